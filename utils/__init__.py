"""Plain-Python layer that knows Microsoft Graph and MSAL.

Nothing in this package imports the ORM: models call it with plain values, which
keeps the Graph knowledge testable on its own (like ``microsoft_calendar/utils``).
"""
