"""Run in a subprocess by test_langfuse.py with the Langfuse v3 SDK first on PYTHONPATH (the test process has v5).

Changes nothing but base URL and keys: traces go through v3's OTLP exporter, scores through v3's legacy
`/api/public/ingestion`. Prints one JSON line with the ids the test reads back.
"""

from __future__ import annotations

import json
import os
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # v3 marks start_as_current_generation deprecated

from langfuse import Langfuse  # noqa: E402

client = Langfuse(public_key=os.environ["LF_PUBLIC_KEY"], secret_key=os.environ["LF_SECRET_KEY"],
                  host=os.environ["LF_HOST"], flush_interval=0.2)  # fmt: skip
assert client.auth_check()
with client.start_as_current_span(name="v3-root", input={"question": "where?"}) as root:
    root.update_trace(user_id="user-v3", session_id="session-v3", tags=["v3"])
    with root.start_as_current_generation(
        name="v3-generation",
        model="gpt-4o",
        input=[{"role": "user", "content": "Where is my parcel?"}],
        usage_details={"input": 1000, "output": 200},
    ) as generation:
        generation.update(output="In Lyon.")
    root.score_trace(name="v3-helpful", value=1.0, comment="resolved")
    ids = {"trace_id": root.trace_id, "generation_id": generation.id, "root_id": root.id}
client.create_score(name="v3-tone", value="calm", data_type="CATEGORICAL", trace_id=ids["trace_id"],
                    observation_id=ids["generation_id"])  # fmt: skip
client.flush()
client.shutdown()
print(json.dumps(ids))
