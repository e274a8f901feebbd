"""Writes labelled.jsonl from the hand-written cases below (run: python build_labelled.py). Every text here was
written by hand for Lynex Box (Apache-2.0, as the repository); the facts in the documents are invented or common
knowledge, no text is copied from a dataset. `expected` lists the reason codes a careful reader would flag."""

from __future__ import annotations

import json
from pathlib import Path

# (question, document, grounded answer, answer with a wrong number, answer with an invented name, the number, the name)
TOPICS = [
    (
        "When was the Eiffel Tower completed?",
        "The Eiffel Tower in Paris was completed in 1889 and is 330 metres tall.",
        "It was completed in 1889 and is 330 metres tall.",
        "It was completed in 1889 and is 412 metres tall.",
        "It was completed in 1889 by Gustave Fontaine and is 330 metres tall.",
        "412",
        "Gustave Fontaine",
    ),
    (
        "How much does the Pro plan cost?",
        "The Pro plan costs $49 per month and includes 25 seats and priority support.",
        "The Pro plan is $49 per month with 25 seats.",
        "The Pro plan is $79 per month with 25 seats.",
        "The Pro plan is $49 per month with 25 seats, billed through Stripe Atlas.",
        "$79",
        "Stripe Atlas",
    ),
    (
        "What is the refund window?",
        "Customers may request a refund within 30 days of purchase if the item is unused.",
        "You can ask for a refund within 30 days if the item is unused.",
        "You can ask for a refund within 45 days if the item is unused.",
        "You can ask for a refund within 30 days; contact Maria Delgado in billing.",
        "45",
        "Maria Delgado",
    ),
    (
        "How many employees does Norvik have?",
        "Norvik Systems employs 1,250 people across offices in Oslo and Bergen.",
        "Norvik Systems has 1,250 employees in Oslo and Bergen.",
        "Norvik Systems has 2,300 employees in Oslo and Bergen.",
        "Norvik Systems has 1,250 employees in Oslo, Bergen and Stavanger.",
        "2,300",
        "Stavanger",
    ),
    (
        "What is the boiling point of water at sea level?",
        "At sea level water boils at 100 degrees Celsius.",
        "Water boils at 100 degrees Celsius at sea level.",
        "Water boils at 112 degrees Celsius at sea level.",
        "Water boils at 100 degrees Celsius at sea level, as Lord Kelvin measured.",
        "112",
        "Lord Kelvin",
    ),
    (
        "How long is the warranty on the X200 drill?",
        "The X200 drill comes with a warranty of 24 months covering motor defects.",
        "The X200 drill has a 24 month warranty covering motor defects.",
        "The X200 drill has a 36 month warranty covering motor defects.",
        "The X200 drill has a 24 month warranty, serviced by Hartmann Tools.",
        "36",
        "Hartmann Tools",
    ),
    (
        "What was revenue in Q3?",
        "In Q3 the company reported revenue of 18.4 million euros, up 12% year over year.",
        "Q3 revenue was 18.4 million euros, up 12% year over year.",
        "Q3 revenue was 21.7 million euros, up 12% year over year.",
        "Q3 revenue was 18.4 million euros, up 12%, according to CFO Daniel Brooks.",
        "21.7",
        "Daniel Brooks",
    ),
    (
        "How tall is Mount Kilimanjaro?",
        "Mount Kilimanjaro in Tanzania rises to 5,895 metres above sea level.",
        "Kilimanjaro is 5,895 metres high.",
        "Kilimanjaro is 6,120 metres high.",
        "Kilimanjaro is 5,895 metres high and was first climbed by Hans Meyer's team from Munich.",
        "6,120",
        "Munich",
    ),
    (
        "What is the API rate limit?",
        "The public API allows 600 requests per minute per key; bursts above that receive HTTP 429.",
        "Each key gets 600 requests per minute; above that you receive HTTP 429.",
        "Each key gets 1000 requests per minute; above that you receive HTTP 429.",
        "Each key gets 600 requests per minute, enforced by Cloudflare Gateway.",
        "1000",
        "Cloudflare Gateway",
    ),
    (
        "How many moons does Mars have?",
        "Mars has two small moons, Phobos and Deimos.",
        "Mars has two moons, Phobos and Deimos.",
        "Mars has 14 moons, the largest being Phobos.",
        "Mars has two moons, Phobos and Deimos, and a ring named Tharsis Minor.",
        "14",
        "Tharsis Minor",
    ),
    (
        "Which port does the service listen on?",
        "By default the service listens on port 8080 and exposes metrics on port 9100.",
        "It listens on port 8080 and serves metrics on 9100.",
        "It listens on port 8443 and serves metrics on 9100.",
        "It listens on port 8080 and serves metrics on 9100 through Envoy Proxy.",
        "8443",
        "Envoy Proxy",
    ),
    (
        "How long does shipping take to Canada?",
        "Standard shipping to Canada takes 7 to 12 business days.",
        "Shipping to Canada takes 7 to 12 business days.",
        "Shipping to Canada takes 7 to 21 business days.",
        "Shipping to Canada takes 7 to 12 business days with Purolator Express.",
        "21",
        "Purolator Express",
    ),
    (
        "What is the maximum file size for uploads?",
        "Uploads are limited to 250 MB per file; larger files must be split.",
        "Each upload can be up to 250 MB; split larger files.",
        "Each upload can be up to 500 MB; split larger files.",
        "Each upload can be up to 250 MB; split larger files with WinZip Pro.",
        "500",
        "WinZip Pro",
    ),
    (
        "Who founded Greystone Bakery?",
        "Greystone Bakery was founded in 1987 by Elena Rossi in Turin.",
        "Elena Rossi founded it in Turin in 1987.",
        "Elena Rossi founded it in Turin in 1994.",
        "Elena Rossi and Marco Bianchi founded it in Turin in 1987.",
        "1994",
        "Marco Bianchi",
    ),
    (
        "How much RAM does the M2 server have?",
        "The M2 server ships with 64 GB of RAM and two 1.92 TB NVMe drives.",
        "The M2 server has 64 GB of RAM and two 1.92 TB NVMe drives.",
        "The M2 server has 128 GB of RAM and two 1.92 TB NVMe drives.",
        "The M2 server has 64 GB of RAM and two 1.92 TB Samsung drives.",
        "128",
        "Samsung",
    ),
    (
        "What is the dosage for adults?",
        "The recommended adult dose is 500 mg every 8 hours, not exceeding 1500 mg per day.",
        "Adults take 500 mg every 8 hours, at most 1500 mg a day.",
        "Adults take 750 mg every 8 hours, at most 1500 mg a day.",
        "Adults take 500 mg every 8 hours, at most 1500 mg a day, as approved by Health Canada.",
        "750",
        "Health Canada",
    ),
    (
        "How many seats are in the stadium?",
        "The Riverside Stadium holds 42,000 spectators and opened in 2004.",
        "Riverside Stadium holds 42,000 people and opened in 2004.",
        "Riverside Stadium holds 55,000 people and opened in 2004.",
        "Riverside Stadium holds 42,000 people and opened in 2004, designed by Zaha Hadid.",
        "55,000",
        "Zaha Hadid",
    ),
    (
        "What is the interest rate on the savings account?",
        "The Flex Saver account pays 3.25% annual interest on balances up to 50,000.",
        "Flex Saver pays 3.25% a year on balances up to 50,000.",
        "Flex Saver pays 4.10% a year on balances up to 50,000.",
        "Flex Saver pays 3.25% a year on balances up to 50,000, insured by Lloyd Mutual.",
        "4.10%",
        "Lloyd Mutual",
    ),
    (
        "When does the conference start?",
        "The conference opens on 14 March 2025 in Lisbon and runs for three days.",
        "It opens on 14 March 2025 in Lisbon for three days.",
        "It opens on 14 March 2025 in Lisbon and hosts 3,400 attendees.",
        "It opens on 14 March 2025 in Lisbon, with a keynote by Satya Nadella.",
        "3,400",
        "Satya Nadella",
    ),
    (
        "How fast is the train between the two cities?",
        "The line runs at up to 300 km/h and the trip takes 95 minutes.",
        "Trains run at up to 300 km/h and the trip takes 95 minutes.",
        "Trains run at up to 300 km/h and the trip takes 140 minutes.",
        "Trains run at up to 300 km/h on Siemens Velaro trains and the trip takes 95 minutes.",
        "140",
        "Siemens Velaro",
    ),
    (
        "What is the battery life of the headphones?",
        "The headphones last 30 hours with noise cancelling on and charge fully in 2 hours.",
        "They last 30 hours with noise cancelling and charge in 2 hours.",
        "They last 45 hours with noise cancelling and charge in 2 hours.",
        "They last 30 hours with noise cancelling, using Qualcomm aptX.",
        "45",
        "Qualcomm",
    ),
    (
        "How many languages does the app support?",
        "The app is available in 18 languages, including Japanese and Polish.",
        "The app supports 18 languages, Japanese and Polish among them.",
        "The app supports 27 languages, Japanese and Polish among them.",
        "The app supports 18 languages, Japanese, Polish and Swahili among them.",
        "27",
        "Swahili",
    ),
    (
        "What is the population of the town?",
        "Ellsworth has a population of 8,412 according to the latest census.",
        "Ellsworth has 8,412 residents per the latest census.",
        "Ellsworth has 12,950 residents per the latest census.",
        "Ellsworth has 8,412 residents per the latest census, led by Mayor Linda Park.",
        "12,950",
        "Linda Park",
    ),
    (
        "How old is the oldest tree in the park?",
        "The oldest oak in Hollin Park is estimated to be 480 years old.",
        "The oldest oak in Hollin Park is about 480 years old.",
        "The oldest oak in Hollin Park is about 720 years old.",
        "The oldest oak in Hollin Park is about 480 years old and was planted by Queen Anne.",
        "720",
        "Queen Anne",
    ),
    (
        "What time does the store close on Saturdays?",
        "On Saturdays the store is open from 9 to 18 and closed on Sundays.",
        "On Saturdays it closes at 18; it is closed on Sundays.",
        "On Saturdays it closes at 21; it is closed on Sundays.",
        "On Saturdays it closes at 18, except at the Westfield branch.",
        "21",
        "Westfield",
    ),
]
URL_DOC = "Documentation: https://docs.example.com/setup explains installation."


def topic_cases() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for n, (q, doc, good, bad_number, bad_name, number, name) in enumerate(TOPICS):
        docs = [doc, "Unrelated: the cafeteria menu changes every week."]
        out += [
            {"id": f"t{n}-grounded", "input": q, "output": good, "documents": docs, "expected": []},
            {
                "id": f"t{n}-number",
                "input": q,
                "output": bad_number,
                "documents": docs,
                "expected": ["ungrounded_number"],
                "note": f"{number} is not in the documents",
            },
            {
                "id": f"t{n}-name",
                "input": q,
                "output": bad_name,
                "documents": docs,
                "expected": ["ungrounded_entity"],
                "note": f"{name} is not in the documents",
            },
            {"id": f"t{n}-cite-ok", "input": q, "output": f"{good} [1]", "documents": docs, "expected": []},
            {
                "id": f"t{n}-cite-bad",
                "input": q,
                "output": f"{good} [{3 + n % 4}]",
                "documents": docs,
                "expected": ["unknown_citation"],
                "note": "only two documents were retrieved",
            },
        ]
        if n % 3 == 0:
            out.append(
                {"id": f"t{n}-tool", "input": q, "output": good, "documents": [], "tool_results": [doc], "expected": []}
            )
            out.append(
                {
                    "id": f"t{n}-tool-bad",
                    "input": q,
                    "output": bad_number,
                    "documents": [],
                    "tool_results": [doc],
                    "expected": ["ungrounded_number"],
                }
            )
        if n % 4 == 1:
            out.append(
                {
                    "id": f"t{n}-source-bad",
                    "input": q,
                    "output": f"{good} (Source: Internal Wiki 2019)",
                    "documents": docs,
                    "expected": ["unknown_citation", "ungrounded_entity", "ungrounded_number"],
                    "note": "a source no document names; its name and year are ungrounded too",
                }
            )
            out.append(
                {
                    "id": f"t{n}-url-bad",
                    "input": q,
                    "output": f"{good} See https://help.example.org/faq",
                    "documents": docs,
                    "expected": ["unknown_citation"],
                }
            )
            out.append(
                {
                    "id": f"t{n}-url-ok",
                    "input": q,
                    "output": f"{good} Setup: https://docs.example.com/setup",
                    "documents": [*docs, URL_DOC],
                    "expected": [],
                }
            )
    return out


REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I cannot provide medical advice. Please consult a doctor.",
    "As an AI language model, I do not have personal opinions.",
    "I'm not able to access your account details.",
    "I can't assist with creating malware.",
    "Sorry, I am unable to share that information.",
    "I won't be able to help with that, as it goes against the policy.",
    "I must decline to answer questions about other customers.",
    "I apologize, but I cannot generate that content.",
    "As a language model, I cannot browse the internet.",
    "I'm afraid I can't do that.",
    "I do not have access to real-time stock prices.",
    "I am not allowed to discuss internal pricing.",
    "Unfortunately I cannot complete this task because it requires login credentials.",
]
UNCERTAIN = [
    "I'm not sure, but the office might open at nine.",
    "I don't know the exact figure for last year.",
    "To the best of my knowledge the feature is not yet released.",
    "I am not certain which version introduced this option.",
    "It's unclear from the information given whether the plan includes support.",
    "I could be wrong, but I think the meeting was moved.",
    "I do not have enough information to answer that.",
    "I'm not entirely sure the discount applies to renewals.",
    "I can't verify that claim.",
    "I don't have sufficient information to say which team owns it.",
]
CLEAN = [
    (
        "How do I reset my password?",
        "Open Settings, choose Security and click Reset password; a link is emailed to you.",
    ),
    (
        "Summarise the meeting notes.",
        "The team agreed to ship the release next week and to review the backlog on Monday.",
    ),
    ("Write a haiku about autumn.", "Leaves drift through cold air / the maple lets go slowly / evening comes early"),
    ("What does HTTP stand for?", "HTTP stands for Hypertext Transfer Protocol."),
    (
        "Can you help me plan a trip?",
        "Of course. Tell me your dates, budget and what you enjoy, and I will suggest a plan.",
    ),
    (
        "Explain recursion simply.",
        "Recursion is when a function solves a problem by calling itself on a smaller part of it.",
    ),
    ("Give me a synonym for happy.", "Cheerful, glad or content all work."),
    (
        "Is it safe to delete the cache folder?",
        "Yes, the cache folder only holds temporary files and is rebuilt when needed.",
    ),
    ("What is a good name for a cat?", "Miso, Pepper or Luna are popular choices."),
    ("How do I sort a list in Python?", "Use sorted(items) for a new list or items.sort() to sort in place."),
    ("Translate 'thank you' into German.", "Danke schön."),
    ("What should I cook tonight?", "A vegetable stir fry with rice is quick and uses whatever is in the fridge."),
    ("Describe the colour blue to someone.", "Blue feels like cool water or a clear sky on a calm morning."),
    ("Why is the sky blue?", "Air molecules scatter short blue wavelengths of sunlight more than red ones."),
    ("Tell me a fun fact.", "Octopuses have three hearts and blue blood."),
    ("Can you check my grammar: 'He go to school.'", "It should be 'He goes to school.'"),
]
LANG = [
    (
        "Wie kann ich mein Passwort zurücksetzen? Ich finde die Einstellung nicht.",
        "You can reset it in the settings page under security, and then you will get an email with a link.",
        ["language_mismatch"],
    ),
    (
        "Wie kann ich mein Passwort zurücksetzen? Ich finde die Einstellung nicht.",
        "Öffnen Sie die Einstellungen und wählen Sie Sicherheit, dann können Sie das Passwort zurücksetzen.",
        [],
    ),
    (
        "Quelle est la politique de retour pour les articles en solde ?",
        "Items on sale can be returned within 14 days if they are unused and you have the receipt.",
        ["language_mismatch"],
    ),
    (
        "Quelle est la politique de retour pour les articles en solde ?",
        "Les articles en solde peuvent être retournés dans les 14 jours s'ils ne sont pas utilisés.",
        [],
    ),
    (
        "¿Cómo puedo cambiar la dirección de envío de mi pedido?",
        "You can change the shipping address from the orders page before the order is shipped.",
        ["language_mismatch"],
    ),
    (
        "¿Cómo puedo cambiar la dirección de envío de mi pedido?",
        "Puede cambiar la dirección desde la página de pedidos antes de que se envíe el paquete.",
        [],
    ),
    (
        "Come posso annullare il mio abbonamento? Non trovo il pulsante.",
        "To cancel, open your account page and click the cancel button at the bottom of the page.",
        ["language_mismatch"],
    ),
    (
        "Come posso annullare il mio abbonamento? Non trovo il pulsante.",
        "Per annullare l'abbonamento apri la pagina del tuo account e premi il pulsante in fondo alla pagina.",
        [],
    ),
    (
        "Hoe kan ik mijn factuur downloaden? Ik zie het niet op de pagina.",
        "You can download the invoice from the billing section of the dashboard.",
        ["language_mismatch"],
    ),
    (
        "Hoe kan ik mijn factuur downloaden? Ik zie het niet op de pagina.",
        "Je kunt de factuur downloaden in het gedeelte facturering van het dashboard, het staat onderaan.",
        [],
    ),
    (
        "Como faço para mudar o meu plano? Não encontro a opção.",
        "You can change the plan in the billing settings, and the change applies at the next cycle.",
        ["language_mismatch"],
    ),
    (
        "How do I export my data to a CSV file?",
        "Sie können die Daten im Menü Export als CSV herunterladen, und es ist ganz einfach für Sie.",
        ["language_mismatch"],
    ),
    (
        "How do I export my data to a CSV file?",
        "Open the Export menu and choose CSV; the download starts right away.",
        [],
    ),
    (
        "What is the difference between the two plans and which one should I choose?",
        "Le plan Pro est plus cher que le plan de base, mais il inclut le support et les rapports pour votre équipe.",
        ["language_mismatch"],
    ),
    (
        "What is the difference between the two plans and which one should I choose?",
        "El plan Pro es más caro que el plan básico, pero incluye soporte y los informes para su equipo.",
        ["language_mismatch"],
    ),
    (
        "Can you tell me what the weather will be like in the city this weekend?",
        "Я не могу узнать прогноз погоды, но вы можете проверить сайт местной метеослужбы.",
        ["language_mismatch"],
    ),
    (
        "Can you tell me what the weather will be like in the city this weekend?",
        "我无法查看天气预报，但您可以查看当地气象局的网站。",
        ["language_mismatch"],
    ),
    (
        "Was ist der Unterschied zwischen den beiden Tarifen und welcher ist für mich der richtige?",
        "Der Pro Tarif ist teurer, aber er enthält Support und Berichte für das ganze Team.",
        [],
    ),
    ("Please translate into French: where is the station?", "Où est la gare ?", []),
    (
        "Dis-moi comment créer un compte et ce que je dois préparer pour la vérification.",
        "To create an account you need an email address and a photo ID for the verification step.",
        ["language_mismatch"],
    ),
    (
        "Dis-moi comment créer un compte et ce que je dois préparer pour la vérification.",
        "Pour créer un compte, il vous faut une adresse e-mail et une pièce d'identité pour la vérification.",
        [],
    ),
    (
        "¿Cuál es el horario de atención al cliente los fines de semana?",
        "Customer service is open on weekends from nine to five, and the chat is open all day.",
        ["language_mismatch"],
    ),
    (
        "Quanto costa la spedizione in Germania e quanto tempo ci vuole?",
        "La spedizione in Germania costa poco e ci vogliono circa tre giorni per la consegna.",
        [],
    ),
    ("What is the capital of Japan?", "東京です。日本の首都は東京です。", ["language_mismatch"]),
]
JSON_CASES = [
    ("Return the user's name and age as JSON.", '{"name": "Ana", "age": 31}', None, []),
    ("Return the user's name and age as JSON.", "Sure! The user's name is Ana and she is 31.", None, ["invalid_json"]),
    (
        "Respond only with a JSON object with keys city and country.",
        '```json\n{"city": "Lyon", "country": "France"}\n```',
        None,
        [],
    ),
    (
        "Respond only with a JSON object with keys city and country.",
        '{"city": "Lyon", "country": "France",}',
        None,
        ["invalid_json"],
    ),
    ("Extract the items from the order.", '{"items": ["pen", "paper"]}', {"type": "json_object"}, []),
    ("Extract the items from the order.", "items: pen, paper", {"type": "json_object"}, ["invalid_json"]),
    (
        "Classify the sentiment.",
        '{"sentiment": "positive", "confidence": 0.92}',
        {"type": "json_schema", "json_schema": {"name": "s"}},
        [],
    ),
    (
        "Classify the sentiment.",
        '{"sentiment": "positive", "confidence": 0.92',
        {"type": "json_schema", "json_schema": {"name": "s"}},
        ["invalid_json"],
    ),
    ("Output the list of tags in JSON format.", '["billing", "urgent"]', None, []),
    ("Output the list of tags in JSON format.", "[billing, urgent]", None, ["invalid_json"]),
    (
        "Give me valid JSON describing the product: name, price.",
        "{'name': 'Lamp', 'price': 20}",
        None,
        ["invalid_json"],
    ),
    ("Give me valid JSON describing the product: name, price.", '{"name": "Lamp", "price": 20}', None, []),
    ("Parse the address.", '{"street": "Main St 4", "zip": "1010"}', {"type": "json_object"}, []),
    ("Parse the address.", 'Here is the JSON: {"street": "Main St 4"}', {"type": "json_object"}, ["invalid_json"]),
    (
        "Write a short poem about JSON files.",
        "Braces open wide / keys and values side by side / the parser smiles",
        None,
        [],
    ),
    ("What is JSON used for?", "JSON is a text format for exchanging structured data between programs.", None, []),
    ("Reply in JSON with fields answer and sources.", '{"answer": "yes", "sources": []}', None, []),
    ("Reply in JSON with fields answer and sources.", '{"answer": "yes", "sources": [}', None, ["invalid_json"]),
    ("Summarise this ticket.", '{"summary": "Login fails after reset"}', {"type": "json_object"}, []),
    ("Summarise this ticket.", "", {"type": "json_object"}, ["invalid_json", "empty"]),
]


def other_cases() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i, text in enumerate(REFUSALS):
        out.append(
            {"id": f"refusal-{i}", "input": "Please help me with this.", "output": text, "expected": ["refusal"]}
        )
    for i, text in enumerate(UNCERTAIN):
        out.append(
            {"id": f"uncertain-{i}", "input": "Do you know the answer?", "output": text, "expected": ["uncertainty"]}
        )
    for i, (q, a) in enumerate(CLEAN):
        out.append({"id": f"clean-{i}", "input": q, "output": a, "expected": []})
        if i < 10:
            out.append(
                {
                    "id": f"truncated-{i}",
                    "input": q,
                    "output": a[: len(a) // 2],
                    "finish_reason": "length",
                    "expected": ["truncated"],
                }
            )
        if i < 6:
            out.append({"id": f"stop-{i}", "input": q, "output": a, "finish_reason": "stop", "expected": []})
    for i, q in enumerate(["What is 2 + 2?", "Say hello.", "List three fruits.", "Name a colour.", "Hi!", "Why?"]):
        out.append({"id": f"empty-{i}", "input": q, "output": "", "expected": ["empty"]})
        out.append(
            {"id": f"empty-ws-{i}", "input": q, "output": "   \n", "expected": ["empty"]}
            if i < 3
            else {"id": f"toolcall-{i}", "input": q, "output": "", "tool_calls": [{"name": "lookup"}], "expected": []}
        )
    for i, (q, a, expected) in enumerate(LANG):
        out.append({"id": f"lang-{i}", "input": q, "output": a, "expected": expected})
    for i, (q, a, fmt, expected) in enumerate(JSON_CASES):
        case: dict[str, object] = {"id": f"json-{i}", "input": q, "output": a, "expected": expected}
        if fmt is not None:
            case["model_parameters"] = {"response_format": fmt}
        out.append(case)
    return out


# Written after the detectors were tuned on the cases above and measured once, never tuned on: harder phrasings.
HELD_OUT = [
    {
        "input": "When did the store open?",
        "documents": ["The Main Street store opened on 3 May 2011."],
        "output": "It opened on May 3, 2011.",
        "expected": [],
    },
    {
        "input": "When did the store open?",
        "documents": ["The Main Street store opened on 3 May 2011."],
        "output": "It opened on 2011-05-03, a Tuesday.",
        "expected": [],
    },
    {
        "input": "When did the store open?",
        "documents": ["The Main Street store opened on 3 May 2011."],
        "output": "It opened on 12 June 2013.",
        "expected": ["ungrounded_date"],
    },
    {
        "input": "How many users signed up?",
        "documents": ["Sign-ups reached five hundred in the first week."],
        "output": "About 500 users signed up in the first week.",
        "expected": [],
    },
    {
        "input": "How many users signed up?",
        "documents": ["Sign-ups reached 500 in the first week."],
        "output": "Roughly 1.2k users signed up.",
        "expected": ["ungrounded_number"],
    },
    {
        "input": "Who leads the project?",
        "documents": ["the project is led by anna schmidt from the berlin office."],
        "output": "Anna Schmidt from the Berlin office leads it.",
        "expected": [],
    },
    {
        "input": "What did the reviewer say?",
        "documents": ["The reviewer wrote that the design is clean but slow."],
        "output": 'The reviewer called it "a masterpiece of engineering".',
        "expected": ["ungrounded_quote"],
    },
    {
        "input": "What did the reviewer say?",
        "documents": ["The reviewer wrote: the design is clean but slow."],
        "output": 'The reviewer wrote "the design is clean but slow".',
        "expected": [],
    },
    {
        "input": "Which cloud do we use?",
        "documents": ["All services run on AWS in eu-west-1."],
        "output": "Everything runs on AWS in eu-west-1, with backups on Google Cloud.",
        "expected": ["ungrounded_entity"],
    },
    {
        "input": "Which cloud do we use?",
        "documents": ["All services run on AWS in eu-west-1."],
        "output": "Everything runs on AWS (eu-west-1). Source: the infrastructure handbook",
        "expected": ["unknown_citation"],
    },
    {
        "input": "What is the SLA?",
        "documents": [{"content": "Uptime is guaranteed at 99.9%.", "source": "sla.pdf"}],
        "output": "Uptime is guaranteed at 99.9% (Source: sla.pdf).",
        "expected": [],
    },
    {
        "input": "What is the SLA?",
        "documents": ["Uptime is guaranteed at 99.9%."],
        "output": "Uptime is 99.9% [1][2].",
        "expected": ["unknown_citation"],
    },
    {
        "input": "Can you write my essay for me?",
        "output": "That's not something I can do, but I can help you outline it.",
        "expected": ["refusal"],
    },
    {
        "input": "What will the stock price be tomorrow?",
        "output": "Nobody can predict that reliably; I have no way to know.",
        "expected": ["uncertainty"],
    },
    {
        "input": "What is the capital of Australia?",
        "output": "Canberra, although many people assume it is Sydney.",
        "expected": [],
    },
    {
        "input": "Fix this code",
        "output": "Here is the corrected function:\n\ndef add(a, b):\n    return a +",
        "finish_reason": "max_tokens",
        "expected": ["truncated"],
    },
    {
        "input": "Fix this code",
        "output": "Here is the corrected function: def add(a, b): return a + b",
        "finish_reason": "end_turn",
        "expected": [],
    },
    {
        "input": "Kannst du mir bitte erklären, wie ich die Rechnung für den letzten Monat finde?",
        "output": "Sure, go to Billing and open the invoices tab, the last month is at the top.",
        "expected": ["language_mismatch"],
    },
    {
        "input": "Peux-tu m'expliquer pourquoi mon paiement a été refusé hier soir ?",
        "output": "Votre banque a refusé le paiement ; vérifiez le plafond de votre carte ou contactez la banque.",
        "expected": [],
    },
    {"input": "Merci !", "output": "You're welcome!", "expected": []},
    {
        "input": "List the three largest customers as a JSON array of names.",
        "output": '["Acme", "Globex", "Initech"]\nLet me know if you need more.',
        "expected": ["invalid_json"],
    },
    {"input": 'Return JSON: {"ok": bool}', "output": '{"ok": true}', "expected": []},
    {
        "input": "Extract the date.",
        "model_parameters": {"response_format": "json_object"},
        "output": '{"date": "2024-01-05"}',
        "expected": [],
    },
    {
        "input": "I'd like a recommendation for a laptop for programming under 1000 euros, light and with a good "
        "keyboard, ideally with 16 GB of memory and a battery that lasts a full working day away from "
        "the desk; I mostly write Python and run Docker containers.",
        "output": "A 14-inch ultrabook with 16 GB of memory suits you; the Lenovo ThinkPad T14 is a common pick.",
        "expected": ["ungrounded_entity"],
    },
]


if __name__ == "__main__":
    held = [{"id": f"held-{i}", **case} for i, case in enumerate(HELD_OUT)]
    cases = topic_cases() + other_cases() + held
    path = Path(__file__).with_name("labelled.jsonl")
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))
    print(len(cases), "cases")
