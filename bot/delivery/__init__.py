"""One delivery pipeline for everything the bot sends on its own initiative.

Broadcasts (and their reminders), task announcements, deadline reminders, Monday digests,
"remind the missing" and personal reminders all go the same way: claim → render → send →
classify the answer → record, under one send budget and one error policy.

Delivery semantics, for every send:
- **sent**: Telegram answered with the message;
- **failed**: a permanent refusal (400; 403 also marks the user inactive);
- **unknown**: a timeout, a 5xx or a connection dropped after the request may have reached
  Telegram. Telegram has no idempotency key, so it is reported, never retried by itself; the
  admin may choose to resend a broadcast's unknown rows (some may then get it twice).
Only what provably did not reach Telegram is retried automatically: a 429 (after its
``retry_after``, which pauses every sender sharing the budget) and a connection that was never
made (a refused connection, a connect or pool timeout: `bot.telegram.transport.never_sent`).

A row goes pending → claimed → sending → outcome. It is marked ``sending`` (in small groups,
the next ``DELIVERY_MARK_AHEAD`` seconds of sends) before its request starts; after a crash a
``claimed`` row provably had no request and goes back to pending, a ``sending`` one becomes
unknown ("interrupted"). A graceful stop puts every row without a request back.

Across channels: each row records the address it goes to and its channel, chosen when it is
written (a person's last channel, or all of them by their reach); the ``ChannelRouter`` sends
it through its channel's sender, and a channel with limits of its own (WeCom) has its own lane
and its own claim-and-send loop.

Modules: ``outcome`` (channel-neutral results), ``budget`` (Telegram's limits and the quota
pacer WeCom's lane uses, in-process or shared through PostgreSQL), ``pipeline`` (the loops, and
the ``Sender`` protocol it sends through), ``broadcasts`` and ``reminders`` (the per-kind
pieces), ``leader`` (advisory-lock leadership), ``service`` (wiring around the channels'
senders, and their router). Nothing here imports a channel (a
contract in pyproject.toml checks it): Telegram's sender, its classification of answers and the
reply policy are the adapter's (bot/telegram/sender.py, replies.py, delivery.py).
"""
