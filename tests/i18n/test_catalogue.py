"""The French catalogue is complete and the committed .mo files are what the .po files say."""

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

LC = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES"


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_french_catalogue_has_no_fuzzy_or_untranslated_entry(domain, tmp_path):
    compiled = tmp_path / f"{domain}.mo"
    result = subprocess.run(
        [shutil.which("msgfmt") or "msgfmt", "--check", "--statistics", "-o", compiled,
         LC / f"{domain}.po"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # "N translated messages." and nothing else: no ", M fuzzy", no ", M untranslated".
    assert "fuzzy" not in result.stderr and "untranslated" not in result.stderr, result.stderr
    with open(compiled, "rb") as fresh, open(LC / f"{domain}.mo", "rb") as committed:
        assert gettext.GNUTranslations(committed)._catalog == (
            gettext.GNUTranslations(fresh)._catalog
        ), f"locale/fr/LC_MESSAGES/{domain}.mo is stale: run manage.py compilemessages"
