-- The monthly bill of messages the bot starts, per channel (it was Viber's table alone): each
-- channel's delivery policy (domain.channel.DeliveryPolicy) decides what is sent free, sent and
-- billed, held back or dropped. Viber's counts so far are kept.
CREATE TABLE proactive_billing (
    channel text NOT NULL,
    month text NOT NULL,
    billed integer NOT NULL DEFAULT 0,
    free integer NOT NULL DEFAULT 0,
    held integer NOT NULL DEFAULT 0,
    dropped integer NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, month)
);

INSERT INTO proactive_billing (channel, month, billed, free, held, dropped)
    SELECT 'viber', month, billed, free, held, dropped FROM viber_billing;

DROP TABLE viber_billing;
