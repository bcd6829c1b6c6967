"""Seeded generator of bank support dialogues: the project's own demo data.

It writes a small "support system" SQLite database (``conversations`` and ``messages``
tables, as a ticketing tool would export them) plus a gold dev set, a gold test set and a tag
list in the Banking77 benchmark format, so the demo runs the SQL ingest path on a fresh
machine with no external data.

Properties: multi-turn dialogues (customer and operator), 12 tags with confusable pairs,
varied wording (synonyms, slots, greetings, typos, casing), PII inside turns (Luhn-valid card
numbers, phone numbers, e-mails, IBANs), operator tags about 80% accurate whose errors go
mostly to the confusable tag, 5% missing, and a few deliberately bad rows (duplicate id, empty
dialogue, oversized dialogue) that the ingest must quarantine.
"""
from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

TAGS: dict[str, dict] = {
    "card_lost_or_stolen": {
        "description": "Customer lost their card or it was stolen and wants it blocked or replaced",
        "fees": False, "confusable": ["card_not_arrived", "pin_blocked"],
        "open": [
            "my purse was pickpocketed {where}, the card was inside", "I dropped my card somewhere {when}", "need to report a stolen card", "lost card, please cancel it before someone uses it",
            "I lost my card {when}", "my card was stolen {where}", "someone took my wallet with my {bank} card in it",
            "I can't find my debit card anywhere", "I think I left my card at {merchant} and now it's gone",
            "please block my card, it's been stolen", "my bag got stolen {where} and the card was in it",
            "I misplaced my card {when}, can you freeze it", "card is missing since {when}, I need to cancel it",
        ],
        "follow": ["the card number was {card}", "can you send a replacement to my address",
                   "I want a new card please", "did anyone use it since {when}?"],
        "op": ["I've frozen the card ending {last4} and ordered a replacement.",
               "I have blocked the card so nobody can use it.", "A new card will be posted within 5 working days."],
    },
    "card_not_arrived": {
        "description": "Ordered or replacement card has not been delivered yet",
        "fees": False, "confusable": ["card_lost_or_stolen", "update_contact_details"],
        "open": [
            "the replacement you promised never got here", "it has been {ago} and my card is not in the mail", "card delivery is taking forever", "did you actually send my new card?",
            "my new card hasn't arrived yet", "I ordered a card {ago} and it still hasn't come",
            "still waiting for my replacement card", "where is my card? it was supposed to arrive {ago}",
            "the card you sent never showed up", "how long does card delivery take, it's been {ago}",
            "no sign of the card in the post", "has my card been dispatched? nothing came",
        ],
        "follow": ["I live at the same address as before", "my phone is {phone} if the courier needs it",
                   "can you track it?", "should I cancel it and order again?"],
        "op": ["I can see the card was dispatched {ago}; delivery can take up to 10 days.",
               "I'll order a new card and cancel the one in the post.", "Let me check the delivery status."],
    },
    "pin_blocked": {
        "description": "PIN blocked after wrong attempts, or the customer forgot the PIN",
        "fees": False, "confusable": ["card_declined", "card_lost_or_stolen"],
        "open": [
            "wrong PIN too many times, card locked", "how do I get a new pin", "the ATM swallowed my attempts and blocked the PIN", "pin not accepted anymore, it says blocked",
            "my PIN is blocked", "I entered the wrong pin three times and now it's locked",
            "I forgot my PIN", "how can I unblock my pin", "pin locked at the ATM {where}",
            "I can't remember my card pin number", "the machine says my PIN is blocked",
        ],
        "follow": ["I need cash today", "can I reset it in the app?", "card ends in {last4}"],
        "op": ["You can unblock the PIN at any ATM with the option PIN services.",
               "I've reset the PIN counter; please try again.", "You can view your PIN in the app under card settings."],
    },
    "card_declined": {
        "description": "Card payment or withdrawal was declined",
        "fees": False, "confusable": ["pin_blocked", "transfer_failed"],
        "open": [
            "card keeps getting refused when I pay", "my payment at {merchant} didn't go through", "transaction declined but I have funds", "why won't my card work at {merchant}",
            "my card was declined at {merchant}", "payment got rejected {when} at {merchant}",
            "why does my card keep getting declined?", "card not working in shops",
            "tried to pay {amount} and it said declined", "the terminal refused my card {when}",
            "online payment to {merchant} was declined even though I have money",
        ],
        "follow": ["I have enough balance", "it worked yesterday", "card ends {last4}"],
        "op": ["The payment was declined because of a security check; I've cleared it.",
               "Please check the merchant is allowed in your card settings.", "Can you confirm the amount?"],
    },
    "transaction_charged_twice": {
        "description": "The same payment was charged twice",
        "fees": False, "confusable": ["unrecognised_payment", "refund_not_showing"],
        "open": [
            "I see the same purchase twice on my statement", "double charged at {merchant}", "you charged me {amount} two times", "one purchase, two payments taken",
            "I was charged twice for the same thing at {merchant}", "duplicate payment of {amount} on my account",
            "the same transaction appears two times", "{merchant} took the money twice",
            "I got billed double for one purchase {when}", "there are two identical charges of {amount}",
        ],
        "follow": ["I only bought it once", "please refund the second one", "both on {day}"],
        "op": ["One of the two charges is a pending authorisation and will drop off.",
               "I've raised a duplicate charge claim.", "Which of the two payments should be reversed?"],
    },
    "unrecognised_payment": {
        "description": "Customer does not recognise a payment on their statement",
        "fees": False, "confusable": ["transaction_charged_twice", "card_lost_or_stolen"],
        "open": [
            "there's a {amount} debit I have no idea about", "a purchase from {merchant} I never made", "fraudulent payment on my account?", "I don't remember paying {merchant}",
            "there's a payment I don't recognise", "I don't know what this {amount} charge to {merchant} is",
            "unknown transaction on my statement", "I never made this purchase at {merchant}",
            "someone spent {amount} that wasn't me", "strange payment {when}, I didn't authorise it",
        ],
        "follow": ["I still have my card with me", "I want to dispute it", "it says {merchant} online"],
        "op": ["I've opened a dispute for the payment.", "Sometimes merchants use a different name; can you check?",
               "For safety I will cancel the card and order a new one."],
    },
    "refund_not_showing": {
        "description": "A refund from a merchant has not appeared in the account",
        "fees": False, "confusable": ["transaction_charged_twice", "transfer_pending"],
        "open": [
            "got a refund confirmation but no money yet", "return processed by {merchant} but nothing in my account", "my money from the refund has not come through", "still waiting on the {merchant} refund",
            "my refund from {merchant} isn't showing", "the shop says they refunded me {ago} but I don't see it",
            "still no refund for my return", "where is my refund of {amount}?",
            "{merchant} processed a refund but the money's not back", "refund missing from my account",
        ],
        "follow": ["they gave me a receipt", "it was {amount}", "how long do refunds take?"],
        "op": ["Refunds can take up to 10 working days to appear.", "Please ask the merchant for the refund reference.",
               "I can see a pending credit from {merchant}."],
    },
    "transfer_pending": {
        "description": "A bank transfer is still pending or has not reached the recipient",
        "fees": False, "confusable": ["transfer_failed", "refund_not_showing"],
        "open": [
            "money I sent {when} has not reached my friend", "the payment to my landlord is still processing", "transfer showing pending for {ago}", "when does the transfer actually arrive?",
            "my transfer is still pending", "I sent money {ago} and it's still processing",
            "the transfer to my landlord hasn't arrived", "bank transfer stuck on pending",
            "when will my transfer of {amount} go through?", "payment to {iban} still not received by them",
        ],
        "follow": ["it was to {iban}", "the recipient needs it today", "I sent it {when}"],
        "op": ["Transfers can take up to one working day.", "The transfer is with the receiving bank now.",
               "I can see it was sent {when}; it should arrive shortly."],
    },
    "transfer_failed": {
        "description": "A bank transfer failed, was rejected or returned",
        "fees": False, "confusable": ["transfer_pending", "card_declined"],
        "open": [
            "my payment to {iban} didn't go through", "the transfer got cancelled and I don't know why", "sending money failed with an error", "the recipient bank rejected my transfer",
            "my transfer failed", "the transfer to {iban} was returned", "I got a message that my payment was rejected",
            "why did my bank transfer fail?", "money came back after I sent it to {iban}",
            "transfer of {amount} bounced back", "the app says transfer unsuccessful",
        ],
        "follow": ["the account details were right", "I tried twice", "the IBAN is {iban}"],
        "op": ["The receiving bank rejected the transfer because the name didn't match.",
               "The money has been returned to your balance.", "Please check the recipient's account details."],
    },
    "fee_charged": {
        "description": "Customer asks about a fee or charge applied to their account",
        "fees": True, "confusable": ["exchange_rate", "transaction_charged_twice"],
        "open": [
            "you charged me {small} for nothing", "why is there a charge for the ATM withdrawal", "I see a {small} fee I was not told about", "hidden fees on my account",
            "why was I charged a fee", "there's a {small} fee on my account", "I got charged for withdrawing cash",
            "what is this extra charge of {small}?", "I was charged a fee for a transfer",
            "you took a commission on my top up", "there is a service charge I didn't expect",
        ],
        "follow": ["nobody told me about fees", "can you waive it?", "it was on {day}"],
        "op": ["That is the ATM withdrawal fee after the free allowance.",
               "I've refunded the fee as a one-off.", "The fee is listed in our tariff."],
    },
    "exchange_rate": {
        "description": "Question or complaint about the exchange rate applied to a payment",
        "fees": False, "confusable": ["fee_charged", "card_declined"],
        "open": [
            "the rate on my {currency} purchase was terrible", "how is the conversion rate calculated", "I got fewer {currency} than expected", "your exchange rate is worse than the market",
            "the exchange rate you used was wrong", "I paid in {currency} and got a bad rate",
            "what exchange rate do you apply?", "the conversion to {currency} cost me more than expected",
            "why is the rate different from the one online?", "currency conversion looks off for my payment in {currency}",
        ],
        "follow": ["I was abroad in {country}", "the amount was {amount}", "is there a weekend markup?"],
        "op": ["We use the interbank rate plus a markup at weekends.", "The rate is set when the merchant settles.",
               "I can send you the rate that was applied."],
    },
    "update_contact_details": {
        "description": "Customer wants to change phone number, e-mail or address",
        "fees": False, "confusable": ["card_not_arrived", "pin_blocked"],
        "open": [
            "I have a new mobile number", "change my address please, I moved", "update my e-mail address to {email}", "my contact info is out of date",
            "I need to change my phone number", "please update my email to {email}", "I moved house, how do I change my address",
            "my new number is {phone}", "can you update my contact details", "I want to change the e-mail on my account",
        ],
        "follow": ["the new one is {phone}", "use {email} from now on", "my old email was {email}"],
        "op": ["I've updated your details.", "You can change this in the app under profile.",
               "For security, please confirm the change in the app."],
    },
}

GENERIC_OPENERS = ["hi, I need some help", "hello, I have a problem with my account", "hi there, quick question",
                   "good morning, something is wrong", "I need help with my card", "hey, can someone help me?"]
GREETINGS = ["", "", "hi, ", "hello, ", "good morning, ", "hey ", "Hi there. ", "Dear support, "]
CLOSINGS = ["", "", " thanks", " thank you", " please help", "!!", " asap"]
OP_OPEN = ["Thanks for contacting us.", "Hello, I'm sorry to hear that.", "Hi! Let me look into it.",
           "Thank you for your message.", "Good morning, happy to help."]
OP_ASK = ["Could you confirm your phone number?", "Can you tell me the last 4 digits of the card?",
          "Could you give me your registered e-mail?", "When did this happen?"]
MERCHANTS = ["Tesco", "Amazon", "Uber", "Lidl", "a petrol station", "Zara", "Netflix", "the hotel", "IKEA", "eBay"]
WHERES = ["in Spain", "on the train", "at the airport", "in a bar", "abroad", "downtown", "at the gym"]
WHENS = ["yesterday", "this morning", "last night", "on Monday", "two days ago", "today", "at the weekend"]
AGOS = ["a week ago", "10 days ago", "two weeks ago", "last month", "5 days ago", "ages ago"]
DAYS = ["Monday", "Tuesday", "the 3rd", "the 14th", "Friday", "last Sunday"]
CURRENCIES = ["EUR", "USD", "dollars", "euros", "Swiss francs", "yen", "zloty"]
COUNTRIES = ["France", "the US", "Japan", "Poland", "Italy", "Thailand"]
BANKS = ["", "debit", "credit", "Visa", "Mastercard"]
FIRST = ["anna", "john", "maria", "li", "omar", "sofia", "peter", "fatima", "juan", "olga"]
LAST = ["smith", "novak", "garcia", "chen", "ivanova", "brown", "khan", "muller"]
DOMAINS = ["gmail.com", "yahoo.co.uk", "outlook.com", "mail.de", "proton.me"]


def luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d2 = d * 2 if i % 2 == 0 else d
        total += d2 - 9 if d2 > 9 else d2
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return rng.choice([s, " ".join(s[i:i + 4] for i in range(0, 16, 4)), "-".join(s[i:i + 4] for i in range(0, 16, 4))])


def _slots(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    phone = rng.choice([f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
                        f"07{rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
                        f"+49{rng.randint(1000000000, 9999999999)}"])
    iban = f"GB{rng.randint(10, 99)} NWBK {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(10, 99)}"
    return {
        "merchant": rng.choice(MERCHANTS), "where": rng.choice(WHERES), "when": rng.choice(WHENS),
        "ago": rng.choice(AGOS), "day": rng.choice(DAYS), "currency": rng.choice(CURRENCIES),
        "country": rng.choice(COUNTRIES), "bank": rng.choice(BANKS),
        "amount": rng.choice(["£", "€", "$"]) + str(rng.choice([12, 25, 49.99, 120, 300, 1500, 7.5])),
        "small": rng.choice(["£1", "€2.50", "$3", "£5", "1%"]),
        "card": luhn_card(rng), "last4": str(rng.randint(1000, 9999)), "phone": phone,
        "email": f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}", "iban": iban,
    }


def _typo(rng: random.Random, s: str, p: float = 0.08) -> str:
    if rng.random() > p or len(s) < 8:
        return s
    i = rng.randrange(1, len(s) - 1)
    return s[:i] + s[i + 1:] if rng.random() < 0.5 else s[:i] + s[i + 1] + s[i] + s[i + 2:]


def _casing(rng: random.Random, s: str) -> str:
    r = rng.random()
    if r < 0.15:
        return s.lower()
    if r < 0.2:
        return s.upper()
    return s[:1].upper() + s[1:]


@dataclass(frozen=True)
class LanguagePack:
    """What a demo language brings: its tags (description, fees flag, confusable tags, openings,
    follow-ups, operator answers), the phrases around them and the slot filler (PII included)."""
    tags: dict[str, dict]
    generic_openers: list[str]
    greetings: list[str]
    closings: list[str]
    op_open: list[str]
    op_ask: list[str]
    op_how: list[str]
    replies: list[str]
    slots: Callable[[random.Random], dict[str, str]]


EN = LanguagePack(TAGS, GENERIC_OPENERS, GREETINGS, CLOSINGS, OP_OPEN, OP_ASK,
                  ["How can I help?", "Sure, what happened?", "Of course. Can you describe the issue?"],
                  ["my number is {phone}", "email is {email}", "card {card}", "ok", "sure, it's {last4}"], _slots)


def pack(lang: str) -> LanguagePack:
    if lang == "en":
        return EN
    if lang == "ru":
        from data.demo_ru import RU

        return RU
    raise ValueError(f"demo language must be 'en' or 'ru', not {lang!r}")


def make_dialogue(rng: random.Random, tag: str, lang: LanguagePack = EN) -> list[dict]:
    spec = lang.tags[tag]
    sl = lang.slots(rng)
    opening = rng.choice(lang.greetings) + rng.choice(spec["open"]).format(**sl) + rng.choice(lang.closings)
    turns = []
    if rng.random() < 0.3:  # the request comes only after a generic opener and the operator's question
        turns.append({"speaker": "customer", "text": _casing(rng, rng.choice(lang.generic_openers))})
        turns.append({"speaker": "operator", "text": rng.choice(lang.op_how)})
    turns.append({"speaker": "customer", "text": _casing(rng, _typo(rng, opening))})
    n_extra = rng.choice([1, 2, 2, 3])
    for k in range(n_extra):
        if k == 0 or rng.random() < 0.5:
            turns.append({"speaker": "operator", "text": rng.choice(lang.op_open) + " " + rng.choice(lang.op_ask)})
        reply = rng.choice(spec["follow"] + lang.replies).format(**sl)
        turns.append({"speaker": "customer", "text": _casing(rng, _typo(rng, reply))})
    if rng.random() < 0.7:
        turns.append({"speaker": "operator", "text": rng.choice(spec["op"]).format(**sl)})
    return turns


def _operator_tag(rng: random.Random, tag: str, accuracy: float, tags: dict[str, dict] = TAGS) -> str | None:
    r = rng.random()
    if r < 0.05:
        return None
    if r < 0.05 + accuracy * 0.95:
        return tag
    if rng.random() < 0.7:
        return rng.choice(tags[tag]["confusable"])
    return rng.choice([t for t in tags if t != tag])


def generate_demo(out_dir: str | Path, n_pool: int = 2400, n_test_per_tag: int = 40, n_dev_per_tag: int = 10,
                  operator_accuracy: float = 0.8, seed: int = 7, bad_rows: bool = True, lang: str = "en") -> dict[str, Path]:
    """Write ``support.db``, ``gold_dev.jsonl``, ``gold_test.jsonl`` and ``tags.csv`` under ``out_dir``, in
    English (``lang="en"``, retail-bank tags) or Russian (``"ru"``, small-business bank tags, Russian PII)."""
    lp = pack(lang)
    if n_pool < len(lp.tags) * n_dev_per_tag:
        raise ValueError(f"n_pool={n_pool} is too small for {n_dev_per_tag} gold_dev tickets per tag "
                         f"({len(lp.tags)} tags): need at least {len(lp.tags) * n_dev_per_tag}")
    rng = random.Random(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tags = list(lp.tags)
    start = datetime(2026, 1, 1, 8, 0, 0)
    conversations, messages, truth = [], [], {}
    for i in range(n_pool):
        tag = tags[i % len(tags)] if i < len(tags) * n_dev_per_tag else rng.choice(tags)
        cid = f"conv-{i:06d}"
        opened = start + timedelta(minutes=17 * i + rng.randint(0, 16))
        conversations.append((cid, opened.isoformat(), rng.choice(["chat", "email", "app"]),
                              _operator_tag(rng, tag, operator_accuracy, lp.tags),
                              rng.choice(["retail", "premium", "business"])))
        for seq, t in enumerate(make_dialogue(rng, tag, lp)):
            messages.append((cid, seq, t["speaker"], t["text"], (opened + timedelta(minutes=2 * seq)).isoformat()))
        truth[cid] = tag
    if bad_rows:
        last = start + timedelta(minutes=17 * n_pool)
        conversations.append((conversations[3][0], last.isoformat(), "chat", None, "retail"))  # duplicate id
        fee_tag = next(t for t in tags if lp.tags[t]["fees"])
        conversations.append(("conv-empty", last.isoformat(), "chat", fee_tag, "retail"))  # no messages
        conversations.append(("conv-huge", last.isoformat(), "email", fee_tag, "retail"))
        messages.append(("conv-huge", 0, "customer", lp.tags[fee_tag]["open"][0].format(**lp.slots(random.Random(0)))
                         + " " + "blah " * 6000, last.isoformat()))
        conversations.append((None, last.isoformat(), "chat", tags[2], "retail"))  # missing id
    db = out / "support.db"
    if db.exists():
        db.unlink()
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE conversations (conversation_id TEXT, opened_at TEXT, channel TEXT, operator_tag TEXT,"
        " customer_segment TEXT);"
        "CREATE TABLE messages (conversation_id TEXT, seq INTEGER, sender TEXT, body TEXT, sent_at TEXT);")
    con.executemany("INSERT INTO conversations VALUES (?,?,?,?,?)", conversations)
    con.executemany("INSERT INTO messages VALUES (?,?,?,?,?)", messages)
    con.commit()
    con.close()

    # gold dev: the first n_dev_per_tag pool tickets of each tag (they were generated round-robin)
    dev_ids = [f"conv-{i:06d}" for i in range(len(tags) * n_dev_per_tag)]
    msg_df = pd.DataFrame(messages, columns=["cid", "seq", "speaker", "text", "sent_at"])
    turns_by = {c: [{"speaker": s, "text": t} for s, t in zip(g["speaker"], g["text"])]
                for c, g in msg_df.groupby("cid", sort=False)}
    gold_dev = pd.DataFrame({"ticket_id": dev_ids, "turns": [json.dumps(turns_by[c], ensure_ascii=lang == "en") for c in dev_ids],
                             "tag": [truth[c] for c in dev_ids]})
    test_rows = []
    for k in range(n_test_per_tag):
        for tag in tags:
            test_rows.append({"ticket_id": f"test-{len(test_rows):06d}",
                              "turns": json.dumps(make_dialogue(rng, tag, lp), ensure_ascii=lang == "en"), "tag": tag})
    gold_test = pd.DataFrame(test_rows)
    paths = {"db": db, "gold_dev": out / "gold_dev.jsonl", "gold_test": out / "gold_test.jsonl",
             "tags": out / "tags.csv"}
    gold_dev.to_json(paths["gold_dev"], orient="records", lines=True, force_ascii=False)
    gold_test.to_json(paths["gold_test"], orient="records", lines=True, force_ascii=False)
    pd.DataFrame({"tag": tags, "description": [lp.tags[t]["description"] for t in tags],
                  "fees_group": [lp.tags[t]["fees"] for t in tags]}).to_csv(paths["tags"], index=False)
    return paths


DEMO_TICKETS_QUERY = ("SELECT conversation_id AS ticket_id, opened_at AS created_at, channel, operator_tag, "
                      "customer_segment FROM conversations")
DEMO_TURNS_QUERY = ("SELECT conversation_id AS ticket_id, seq AS turn_index, sender AS speaker, body AS text "
                    "FROM messages")
