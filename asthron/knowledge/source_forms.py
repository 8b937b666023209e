"""The website-source form (Knowledge → Sources), read with ``asthron.forms.parse_form``."""

from __future__ import annotations

from typing import ClassVar

from asthron.forms import Checkbox, FormModel, Text, WholeNumber
from asthron.knowledge.sources import MAX_PAGES_LIMIT, SourceInput


class SourceForm(FormModel):
    read_limit: ClassVar[int] = 2100

    name: Text("The name", 120, one_line=True) = ""
    url: Text(
        "The address",
        2000,
        one_line=True,
        required=True,
        required_message="Enter the address of a sitemap or of the page to start from.",
    )
    max_pages: WholeNumber("Pages per crawl", 1, MAX_PAGES_LIMIT, default=200) = 200
    recrawl_hours: WholeNumber("Re-crawl every (hours)", 0, 24 * 90, default=0) = 0
    publish_pages: Checkbox() = False

    def as_input(self) -> SourceInput:
        return SourceInput(
            name=self.name,
            url=self.url,
            max_pages=self.max_pages,
            recrawl_hours=self.recrawl_hours,
            publish_pages=self.publish_pages,
        )
