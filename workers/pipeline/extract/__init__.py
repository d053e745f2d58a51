"""The extraction stage: a page's HTML to the article's blocks and metadata.

``article`` runs trafilatura and our cleaning ahead of it (``_candidates`` picks the
body, ``_blocks`` turns it into typed blocks, ``_boilerplate`` drops template lines,
``_meta`` reads the metadata); ``classify`` tells articles from bot walls, app shells
and index pages (``pagekind``) and falls back to text embedded in the page
(``embedded``); ``text`` holds the normalisation every cleaning stage compares with.
Other packages use the names below; the underscored modules are this package's own.
"""

from .article import Block, BlockType, ExtractedArticle, Removal, extract_article, render_text
from .classify import ClassifiedPage, extract_classified
from .pagekind import challenge_vendor, is_paywalled

__all__ = [
    "Block",
    "BlockType",
    "ClassifiedPage",
    "ExtractedArticle",
    "Removal",
    "challenge_vendor",
    "extract_article",
    "extract_classified",
    "is_paywalled",
    "render_text",
]
