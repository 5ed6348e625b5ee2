"""Translatable words for the plain-Python layers (plain_words, mappers): no env there.

``_lt("Outlook had a temporary problem.")`` is a ``str`` that reads in English, so it
compares, joins and is stored as before, and it remembers its source and arguments, so a
caller that knows the reader (``env.lang``, the assignee's ``lang``) can put it in that
language: ``in_lang(term, "fr_FR")``. Odoo's export (``--i18n-export``) finds these
calls by their name, ``_lt``, as it finds ``_lt`` of ``odoo.tools.translate``; the
translations come from the module's ``i18n/*.po`` like any other Python term.

Why not Odoo's LazyGettext: it raises on ``==`` and guesses the language from the
caller's frame, which a cron has not; here the language is always said explicitly.
"""

from odoo.tools.translate import get_translation

MODULE = "o365_calendar_sync"


class Term(str):
    """An English text that can be read in another language (see the module docstring)."""

    def __new__(cls, source, *args, **kwargs):
        assert not (args and kwargs), "Use args or kwargs, not both"
        params = args or kwargs
        text = source % params if params else source
        term = super().__new__(cls, text)
        term.source, term.args = source, params
        return term

    def in_lang(self, lang):
        if not lang or lang == "en_US":
            return str(self)
        if isinstance(self.args, dict):
            args = {key: in_lang(value, lang) for key, value in self.args.items()}
        else:
            args = tuple(in_lang(value, lang) for value in self.args)
        return get_translation(MODULE, lang, self.source, args)


_lt = Term


def in_lang(value, lang):
    """``value`` in language ``lang`` when it is a Term; anything else unchanged."""
    return value.in_lang(lang) if isinstance(value, Term) else value
