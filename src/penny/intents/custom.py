"""User intents from custom_sentences files: a canned answer, a webhook call, or a prompt for the LLM.

    intents:
      GarageOpen: {data: [{sentences: ["open the garage [door]"]}]}
    responses:
      intents:
        GarageOpen: {default: "Opening the garage."}      # what Penny says (jinja: {{ slots.name }})
    actions:
      GarageOpen:
        webhook: {url: "http://homeassistant.local:8123/api/webhook/garage", method: POST}
      TellJoke:
        prompt: "Tell me a short joke about {{ slots.topic }}."

A webhook is a plain HTTP request to the URL the user wrote (no shell); its answer is spoken only when
the call succeeded, so Penny never confirms what did not happen. Nothing is sent unless a file asks.
"""
from __future__ import annotations

import logging
from typing import Any

from penny.intents.answers import TEMPLATES
from penny.intents.library import Library, SentenceError
from penny.plugins.base import Intent, SkillResult

log = logging.getLogger("penny.intents.custom")

PLUGIN = "custom"
ASK_LLM = "ask_llm"  # SkillResult.data key: the assistant sends this prompt to the LLM instead
_METHODS = ("GET", "POST", "PUT")


def render(template: str, slots: dict) -> str:
    return TEMPLATES.from_string(template).render(slots={k: str(v) for k, v in slots.items()}).strip()


def check_actions(actions: Any, responses: Any, intents: set[str], where: str) -> None:
    """What `penny intents check` says about a file's actions and responses."""
    for name, action in (actions or {}).items():
        if name not in intents:
            raise SentenceError(f"{where}: action for {name!r}, but no file defines sentences for that intent.")
        if not isinstance(action, dict) or not ({"webhook", "prompt"} & set(action)):
            raise SentenceError(f"{where}: action {name!r} needs 'webhook: {{url: ...}}' or 'prompt: ...'.")
        hook = action.get("webhook")
        if hook is not None:
            url = str(hook.get("url", "")) if isinstance(hook, dict) else ""
            if not url.startswith(("http://", "https://")):
                raise SentenceError(f"{where}: action {name!r}: webhook needs url: http://... or https://...")
            if str(hook.get("method", "POST")).upper() not in _METHODS:
                raise SentenceError(f"{where}: action {name!r}: webhook method must be one of {', '.join(_METHODS)}.")
    templates = [(f"response {n}.{k}", t) for n, per in (responses or {}).get("intents", {}).items()
                 for k, t in (per or {}).items()]
    templates += [(f"prompt of {n}", a["prompt"]) for n, a in (actions or {}).items() if "prompt" in a]
    for what, template in templates:
        try:
            TEMPLATES.parse(str(template))
        except Exception as exc:
            raise SentenceError(f"{where}: the {what} is not a valid template ({exc}); slots are written "
                                "{{ slots.name }}.") from None


def custom_intents(library: Library, claimed: set[str]) -> list[Intent]:
    """An Intent for each user intent no skill handles that has a response or an action."""
    found = []
    for name in library.intents.intents:
        if name in claimed:
            continue
        action = library.actions.get(name) or {}
        answer = (library.responses.get(name) or {}).get("default")
        if not action and answer is None:
            log.warning("custom intent %s has sentences but no response or action; ignoring it", name)
            continue
        found.append(Intent(name, name, _handler(name, action, answer)))
    return found


def _handler(name: str, action: dict, answer: str | None):
    async def run(slots: dict) -> SkillResult:
        if "prompt" in action:
            return SkillResult("", {ASK_LLM: render(str(action["prompt"]), slots)}, PLUGIN)
        if "webhook" in action:
            problem = await _call(name, action["webhook"], slots)
            if problem:
                return SkillResult(problem, {"error": "webhook-failed"}, PLUGIN)
            return SkillResult(render(answer, slots) if answer else "Done.", {"webhook": "ok"}, PLUGIN)
        return SkillResult(render(answer or "", slots), {}, PLUGIN)
    return run


async def _call(name: str, hook: dict, slots: dict) -> str | None:
    """None when the webhook answered 2xx; otherwise the sentence to say."""
    import httpx

    method = str(hook.get("method", "POST")).upper()
    body = {"intent": name, "slots": {k: str(v) for k, v in slots.items()}}
    try:
        async with httpx.AsyncClient(timeout=float(hook.get("timeout_s", 5))) as client:
            if method == "GET":
                resp = await client.get(hook["url"], params=body["slots"])
            else:
                resp = await client.request(method, hook["url"], json=body)
    except httpx.HTTPError as exc:
        log.warning("webhook for %s failed: %s", name, exc)
        return "Sorry, I couldn't reach the address for that."
    if resp.status_code >= 300:
        log.warning("webhook for %s answered HTTP %s", name, resp.status_code)
        return f"Sorry, that didn't work: the address answered with error {resp.status_code}."
    return None
