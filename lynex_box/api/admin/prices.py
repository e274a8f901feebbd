"""Per-project custom prices: `GET` lists them, `PUT` upserts some, `DELETE ?model=&provider=` removes one.

Reading needs a key of scope read or admin (or a user with a role on the project), writing an admin key (or
an admin user). A write is applied to the pipeline's price book before the answer
(spans ingested after it are priced with it); the CLI, which writes from another process, is picked up by the
app's periodic reload within seconds. Prices apply to spans ingested afterwards; stored spans get them only
through `POST /v1/projects/{pid}/reprice` (the same rights; audited), which rewrites the range's segments on the
lifecycle's thread and answers when the new costs are visible (lynex_box/lifecycle/reprice.py).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lynex_box.api import spec
from lynex_box.api.body import decompress, read_body
from lynex_box.api.errors import ApiError, json_response
from lynex_box.api.jsonbody import parse_json
from lynex_box.api.principal import project_access
from lynex_box.api.services import Services, services
from lynex_box.lifecycle.reprice import RepriceError
from lynex_box.meta.prices import price_as_dict
from lynex_box.pricing import CustomPrice, InvalidCustomPrice, PriceBook
from lynex_box.schema.timefmt import format_time_us, parse_time_us

_FIELDS = ("model", "provider", "input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")
MAX_PRICES = 1000


async def _admin(request: Request) -> tuple[Services, str]:
    svc = services(request)
    project_id = request.path_params["project_id"]
    await project_access(request, svc, project_id, "settings.manage")  # an admin key, or an admin user
    return svc, project_id


async def _listing(svc: Services, project_id: str) -> Response:
    prices = await asyncio.to_thread(svc.projects.custom_prices, project_id)
    return json_response({"items": [price_as_dict(p) for p in prices.get(project_id, ())]})


async def get_prices(request: Request) -> Response:
    svc = services(request)
    project_id = request.path_params["project_id"]
    await project_access(request, svc, project_id, "settings.read")
    return await _listing(svc, project_id)


def parse_prices(doc: Any) -> list[CustomPrice]:
    """`{"prices": [...]}`, a list, or one price object, as validated `CustomPrice`s (400 on the first bad one)."""
    items = doc.get("prices") if isinstance(doc, dict) and "prices" in doc else doc
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list) or not items:
        raise ApiError(400, "bad_request", 'body must be {"prices": [{"model", "input_per_mtok", ...}, ...]}')
    if len(items) > MAX_PRICES:
        raise ApiError(413, "too_many_prices", f"{len(items)} prices in one request; the limit is {MAX_PRICES}")
    prices: list[CustomPrice] = []
    seen: set[tuple[str | None, str]] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(400, "bad_price", f"prices[{index}] must be an object")
        unknown = sorted(set(item) - set(_FIELDS))
        if unknown:
            raise ApiError(400, "bad_price", f"prices[{index}] has unknown fields {unknown}; allowed: {list(_FIELDS)}")
        try:
            price = CustomPrice(**item)
        except TypeError:
            needs = "needs model, input_per_mtok and output_per_mtok"
            raise ApiError(400, "bad_price", f"prices[{index}] {needs}") from None
        except InvalidCustomPrice as exc:
            raise ApiError(400, "bad_price", f"prices[{index}]: {exc}") from None
        if price.provider is not None and not isinstance(price.provider, str):
            raise ApiError(400, "bad_price", f"prices[{index}].provider must be a string")
        if price.key in seen:
            raise ApiError(400, "bad_price", f"prices[{index}] repeats model {price.model!r} for the same provider")
        seen.add(price.key)
        prices.append(price)
    return prices


async def put_prices(request: Request) -> Response:
    svc, project_id = await _admin(request)
    raw, encoding = await read_body(request, limit := svc.settings.api.max_price_body_bytes)
    doc = parse_json(decompress(raw, encoding, limit), svc.settings.ingest.max_json_depth)
    prices = parse_prices(doc)
    await asyncio.to_thread(svc.projects.set_prices, project_id, prices)
    if svc.prices is not None:
        await asyncio.to_thread(svc.prices.reload)
    return await _listing(svc, project_id)


async def delete_prices(request: Request) -> Response:
    svc, project_id = await _admin(request)
    model = request.query_params.get("model")
    if not model:
        raise ApiError(400, "bad_request", "give the price to delete as ?model=...(&provider=...)")
    provider = request.query_params.get("provider") or None
    if not await asyncio.to_thread(svc.projects.delete_price, project_id, model, provider):
        raise ApiError(404, "not_found", f"no custom price for model {model!r} in this project")
    if svc.prices is not None:
        await asyncio.to_thread(svc.prices.reload)
    return await _listing(svc, project_id)


def _reprice_range(doc: Any) -> tuple[int, int]:
    if not isinstance(doc, dict) or "from" not in doc or "to" not in doc:
        raise ApiError(400, "bad_request", 'body must be {"from": <RFC 3339 or epoch ms>, "to": <...>}')
    try:
        start, end = parse_time_us(doc["from"]), parse_time_us(doc["to"])
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    if end <= start:
        raise ApiError(400, "bad_request", "`to` must be after `from` (the range is [from, to))")
    return start, end


async def reprice(request: Request) -> Response:
    """Recompute the stored costs of the project's spans in [from, to) with the current prices."""
    svc = services(request)
    project_id = request.path_params["project_id"]
    access = await project_access(request, svc, project_id, "settings.manage")
    raw, encoding = await read_body(request, limit := svc.settings.api.max_price_body_bytes)
    start, end = _reprice_range(parse_json(decompress(raw, encoding, limit), svc.settings.ingest.max_json_depth))
    if svc.prices is not None:  # the pipeline prices new spans with the prices this repricing uses
        await asyncio.to_thread(svc.prices.reload)
    custom = await asyncio.to_thread(svc.projects.custom_prices, project_id)
    lifecycle = svc.lifecycle
    loop = asyncio.get_running_loop()
    try:  # on the lifecycle's own thread: one rewrite at a time, never on the loop or the query threads
        result = await loop.run_in_executor(
            lifecycle.executor, lifecycle.reprice, project_id, start, end, PriceBook(custom)
        )
    except RepriceError as exc:
        raise ApiError(503, "try_again", str(exc), {"Retry-After": "5"}) from None
    body = {"from": format_time_us(start), "to": format_time_us(end), **result.as_dict()}
    await asyncio.to_thread(
        svc.audit.record, access.actor, "data.repriced",
        project_id=project_id, target_type="project", target_id=project_id, details=body,
    )  # fmt: skip
    return json_response(body)


routes = [
    Route("/v1/projects/{project_id}/reprice", reprice, methods=["POST"]),
    Route("/v1/projects/{project_id}/prices", get_prices, methods=["GET"]),
    Route("/v1/projects/{project_id}/prices", put_prices, methods=["PUT"]),
    Route("/v1/projects/{project_id}/prices", delete_prices, methods=["DELETE"]),
]

_PRICE_FIELDS: Final = (
    "{model, provider?, input_per_mtok, output_per_mtok, cache_read_per_mtok?, cache_write_per_mtok?}"
)
_PRICE: Final = spec.obj(
    ("model", "input_per_mtok", "output_per_mtok"),
    model=spec.STR,
    provider={"type": ["string", "null"]},
    input_per_mtok={"type": "number"},
    output_per_mtok={"type": "number"},
    cache_read_per_mtok={"type": ["number", "null"]},
    cache_write_per_mtok={"type": ["number", "null"]},
)
OPENAPI: Final[spec.Paths] = {
    "/v1/projects/{project_id}/prices": {
        "get": spec.read("The project's custom model prices (USD per million tokens)", returns=spec.ITEMS),
        "put": spec.op(
            f'Upsert custom prices {{"prices": [{_PRICE_FIELDS}]}} (admin key)',
            {200: "the prices"},
            security=spec.KEY,
            body=spec.obj(("prices",), prices=spec.list_of(_PRICE)),
            errors=(400, 401, 403, 413),
            returns=spec.ITEMS,
        ),
        "delete": spec.op(
            "Delete one custom price (admin key)",
            {200: "the prices left"},
            security=spec.KEY,
            params=spec.query(("model", "model (required)"), ("provider", "provider, if any")),
            returns=spec.ITEMS,
        ),
    },
    "/v1/projects/{project_id}/reprice": {
        "post": spec.op(
            'Recompute stored costs of spans in [from, to) with the current prices {"from", "to"} (RFC 3339 or epoch '
            "ms; admin key or project admin; audited). Reported costs stay; answers when the new costs are visible",
            {200: "{from, to, files, rewritten, spans, spans_changed}"},
            security=spec.KEY,
            body=spec.obj(("from", "to"), **{"from": spec.TIME, "to": spec.TIME}),
            errors=(400, 401, 403, 503),
        )
    },
}
