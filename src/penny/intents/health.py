"""`penny doctor`'s intents row: the sentence set in use and the user's sentence files (what a language has
no sentences for is the language row's, penny/languages.py)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from penny.health import OK, WARN, Check

_OURS = ("penny:", "home-assistant-intents", "plugin:")


def doctor_checks(cfg) -> list[Check]:
    from penny.plugins.loading import build_plugins, custom_sentences_dir

    with tempfile.TemporaryDirectory() as tmp:  # only the sentence library is wanted, not the user's data
        router = build_plugins(cfg, data_dir=Path(tmp)).router
    lib = router.library
    custom = {s for origins in lib.sources.values() for s in origins if not s.startswith(_OURS)}
    checks = [Check("intents", OK, f"{lib.language}: {len(router.owners())} intents reach skills; "
                    f"{len(custom)} custom sentence file(s) in {custom_sentences_dir(cfg) / lib.language}",
                    required=False)]
    checks += [Check("intents", WARN, problem, "Fix the file (penny intents check), or remove it.", required=False)
               for problem in lib.problems]
    return checks
