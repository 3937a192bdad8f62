"""The Telegram approval bot: ``/tune``, the summary with Apply All / Safe Only / Review / Reject, review of
each change, scheduled tuning. See README's "Telegram" section for setting it up. What the bot does is
:class:`framework.desk.TuningDesk`'s; this package parses, authorises, renders and routes."""

from framework.bot.app import ApprovalBot, build_application, run_bot

__all__ = ["ApprovalBot", "build_application", "run_bot"]
