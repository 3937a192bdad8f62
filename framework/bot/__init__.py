"""The Telegram approval bot: ``/tune``, the summary with Apply All / Safe Only / Review / Reject, review of
each change, scheduled tuning. See README's "Telegram" section for setting it up."""

from framework.bot.app import ApprovalBot, build_application, run_bot
from framework.bot.desk import TuningDesk

__all__ = ["ApprovalBot", "TuningDesk", "build_application", "run_bot"]
