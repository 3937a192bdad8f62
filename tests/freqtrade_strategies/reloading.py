"""The example strategy, publishing a new playbook version while the backtest runs, as a live bot sees
one: at ``publish_at`` (config key) the text of ``next_playbook`` is published to the live file through
a real store (:class:`framework.publishing.LiveFile`). Each exit is recorded to ``record`` (JSON lines):
the trade's open and close time and the version of the parameters it applied."""

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from framework.publishing import LiveFile
from framework.store import Store
from strategies.freqtrade_example import Strategy


class Reloading(Strategy):
    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        test = self.config["reload_test"]
        if not getattr(self, "_published", False) and current_time >= pd.Timestamp(test["publish_at"]):
            live = LiveFile(Store(Path(test["store"])), self.live_playbook_path())
            current = live.check(1)[0]
            live.publish(
                Path(test["next_playbook"]).read_text(), author="test", reason="v2", expected_parent=current.version
            )
            self._published = True
        super().bot_loop_start(current_time, **kwargs)

    def confirm_trade_exit(
        self, pair, trade, order_type, amount, rate, time_in_force, exit_reason, current_time, **kwargs
    ) -> bool:
        record = {
            "open": trade.open_date_utc.isoformat(),
            "close": current_time.isoformat(),
            "version": self.trade_parameters(trade).version,
            "stop_loss": self.trade_parameters(trade).stop_loss,
        }
        with open(self.config["reload_test"]["record"], "a") as handle:
            handle.write(json.dumps(record) + "\n")
        return True


class ReloadingReapplied(Reloading):
    reapply_to_open_trades = True
