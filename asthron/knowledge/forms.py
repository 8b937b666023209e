"""The knowledge dashboard's forms, read with ``asthron.forms.parse_form``."""

from __future__ import annotations

from typing import ClassVar

from asthron.forms import FormModel, Text
from asthron.knowledge.synonyms import MAX_TEXT


class SynonymsForm(FormModel):
    read_limit: ClassVar[int] = MAX_TEXT + 1000

    synonyms: Text("Synonyms", MAX_TEXT)
