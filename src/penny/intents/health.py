"""`penny doctor`'s intents row: the sentence set in use, the user's files, what the language lacks."""
from __future__ import annotations

from penny.doctor import OK, WARN, Check


def doctor_checks(cfg) -> list[Check]:
    from penny.plugins.registry import build_plugins, custom_sentences_dir

    router = build_plugins(cfg).router
    lib = router.library
    custom = {s for origins in lib.sources.values() for s in origins if not s.startswith(("penny:", "home-", "plugin:"))}
    checks = [Check("intents", OK, f"{lib.language}: {len(router.owners())} intents reach skills; "
                    f"{len(custom)} custom sentence file(s) in {custom_sentences_dir(cfg) / lib.language}",
                    required=False)]
    for problem in lib.problems:
        checks.append(Check("intents", WARN, problem, "Fix the file (penny intents check), or remove it.",
                            required=False))
    missing = router.missing()
    if missing:
        checks.append(Check("intents", WARN, f"no {lib.language} sentences for {', '.join(missing)}: such "
                            "requests go to the language model",
                            f"Add sentences for them in custom_sentences/{lib.language}/ (penny intents list).",
                            required=False))
    return checks
