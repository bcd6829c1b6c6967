"""The English demo language pack: support dialogues of a retail bank, with UK-style PII.

What makes it a fair test rather than a keyword lookup (used by :func:`data.demo.make_dialogue`):

- 12 tags in confusable families (card: lost / not arrived / PIN / declined; payments: charged twice /
  unrecognised / refund; transfers: pending / failed; costs: fee / exchange rate) whose wording shares
  vocabulary: *card*, *payment*, *money*, *transfer*, *refund*, *charge* appear across tags;
- per tag, direct openings (``open``), indirect ones with no obvious keyword (``indirect``), and vague
  openings shared by a whole family (``VAGUE``) whose reason only comes in a later turn (``detail``);
- ``aside``: a passing mention of the tag's topic that is *not* the request, dropped into the dialogues of
  its confusable neighbours as a distractor ("my card is safe with me" in an unrecognised payment);
- operator boilerplate common to every tag: welcome, identity check, holding lines, "anything else?";
- operator-tag noise (``op_err``: relative error rate, ``mistag``: where most errors go): operators are
  systematically wrong on four tags, about a third of whose tickets they file under one neighbour
  (failed transfers as pending, exchange rates as fees, unrecognised payments and cards that never
  arrived as lost cards), while the other tags are about 88% right; a model trained on operator tags
  learns those confusions, and what fixes them is in the text (the money came back, the rate, the post),
  which is where rules mined from a few gold tickets can help;
- typos, texting abbreviations and casing on customer text; PII (Luhn-valid cards, phones, e-mails,
  IBANs) in the turns.
"""
from __future__ import annotations

import random

TAGS: dict[str, dict] = {
    "card_lost_or_stolen": {
        "description": "Customer lost their card or it was stolen and wants it blocked or replaced",
        "fees": False, "confusable": ["unrecognised_payment", "card_not_arrived", "pin_blocked"],
        "vague": ["card_problem"],
        "open": [
            "I lost my card {when}", "my card was stolen {where}", "someone nicked my wallet {where}, my {bank} card was in it",
            "please block my card, it was stolen", "I think my card got stolen {where}", "lost my debit card, need it cancelled",
            "my bag was snatched {where} with my cards inside", "I left my card at {merchant} and it's gone now",
            "can you freeze my card, I can't find it", "need to report a stolen card", "I misplaced my card {when}, please block it",
            "card lost {where}, cancel it before someone uses it",
        ],
        "indirect": [
            "I've turned the flat upside down and it's nowhere", "my wallet is gone and I'm panicking",
            "I had it at {merchant} {when} and then it just wasn't in my pocket",
            "someone bumped into me {where} and afterwards my purse was open",
            "I need to make sure nobody can use it, it's not with me anymore", "I can't put my hands on the plastic since {when}",
        ],
        "detail": ["I had it {when} but now it's not in my wallet", "I think someone took it {where}",
                   "it's gone, I just want it blocked", "I've lost it, simple as that"],
        "follow": ["can you send a replacement to my home address", "I want a new card please", "did anyone use it since {when}?",
                   "the card number was {card}", "should I report it to the police too?"],
        "aside": ["I did lose a card last year but that's sorted", "my card is safe with me", "it's not stolen or anything",
                  "I still have my card in my hand"],
        "op": ["I've frozen the card ending {last4} and ordered a replacement.", "The card is now blocked so nobody can use it.",
               "A replacement card will be posted within 5 working days."],
    },
    "card_not_arrived": {
        "description": "Ordered or replacement card has not been delivered yet",
        "fees": False, "confusable": ["card_lost_or_stolen", "update_contact_details"], "op_err": 3.0,
        "mistag": "card_lost_or_stolen",
        "vague": ["card_problem", "account_details"],
        "open": [
            "my new card hasn't arrived yet", "I ordered a card {ago} and it still hasn't come", "still waiting for my replacement card",
            "where is my card? it was supposed to arrive {ago}", "the card you sent never showed up", "has my card been dispatched? nothing came",
            "card delivery is taking forever", "did you actually post my new card?", "no sign of the card in the post",
            "the replacement you promised never got here",
        ],
        "indirect": [
            "the postman keeps coming with everything except the thing from you", "it's been {ago} since you said it was on the way",
            "nothing in the letterbox from you yet", "I'm still using my old one because the new one isn't here",
            "I was told 5 days and it's been {ago}", "the envelope with the plastic never turned up",
        ],
        "detail": ["I ordered it {ago} and it never came", "it was meant to be delivered by now",
                   "it's the new one that was supposed to be posted to me"],
        "follow": ["I live at the same address as before", "my phone is {phone} if the courier needs it", "can you track it?",
                   "should I cancel it and order again?", "did you send it to my old address?"],
        "aside": ["my new card came fine last time", "the card arrived quickly", "I got the new card already"],
        "op": ["I can see the card was dispatched {ago}; delivery can take up to 10 days.",
               "I'll cancel the card in the post and order a new one.", "Let me check the delivery status for you."],
    },
    "pin_blocked": {
        "description": "PIN blocked after wrong attempts, or the customer forgot the PIN",
        "fees": False, "confusable": ["card_declined", "card_lost_or_stolen"],
        "vague": ["card_problem"],
        "open": [
            "my PIN is blocked", "I entered the wrong pin three times and now it's locked", "I forgot my PIN", "how can I unblock my pin",
            "PIN locked at the ATM {where}", "I can't remember my card pin number", "the machine says my PIN is blocked",
            "wrong PIN too many times, card locked", "how do I get a new pin", "pin not accepted anymore, it says blocked",
        ],
        "indirect": [
            "I typed the four digits wrong a few times and now the cash machine won't let me try",
            "the numbers I thought were right apparently aren't", "my mind went blank at the till and now it says too many attempts",
            "I mixed up the code with my old card's one", "it says exceeded attempts, I only got it wrong twice I swear",
        ],
        "detail": ["I got the code wrong a few times", "it says too many incorrect attempts", "it's the pin, I forgot it"],
        "follow": ["I need cash today", "can I reset it in the app?", "card ends in {last4}", "do I need a new card?"],
        "aside": ["the PIN was fine", "I definitely typed the right PIN", "I know my pin"],
        "op": ["You can unblock the PIN at any of our ATMs under PIN services.", "I've reset the PIN counter; please try again.",
               "You can view your PIN in the app under card settings."],
    },
    "card_declined": {
        "description": "Card payment or withdrawal was declined",
        "fees": False, "confusable": ["pin_blocked", "transfer_failed", "exchange_rate"],
        "vague": ["card_problem", "payment_problem"],
        "open": [
            "my card was declined at {merchant}", "payment got rejected {when} at {merchant}", "why does my card keep getting declined?",
            "card not working in shops", "tried to pay {amount} and it said declined", "the terminal refused my card {when}",
            "online payment to {merchant} was declined even though I have money", "card keeps getting refused when I pay",
            "transaction declined but I have funds", "why won't my card work at {merchant}",
        ],
        "indirect": [
            "I was standing at the till at {merchant} with a queue behind me and it just wouldn't go through",
            "the shop assistant said try another card", "tried three times at {merchant}, same result each time",
            "it's so embarrassing, I had to leave my shopping at {merchant}",
            "the website keeps saying the bank did not authorise it", "I have plenty of money but {merchant} won't take it",
        ],
        "detail": ["it won't let me pay anywhere", "the payment just doesn't go through at the till", "the shop said it was refused"],
        "follow": ["I have enough balance", "it worked yesterday", "card ends {last4}", "I'm abroad in {country} right now",
                   "contactless doesn't work either"],
        "aside": ["my card was declined once last month but that's not why I'm writing", "the card works fine in shops",
                  "payments at shops go through fine"],
        "op": ["The payment was stopped by a security check; I've cleared it so you can try again.",
               "Please check the merchant is allowed in your card settings.", "Can you confirm the amount and the merchant?"],
    },
    "transaction_charged_twice": {
        "description": "The same payment was charged twice",
        "fees": False, "confusable": ["unrecognised_payment", "refund_not_showing", "fee_charged"],
        "vague": ["payment_problem", "charge_problem"],
        "open": [
            "I was charged twice for the same thing at {merchant}", "duplicate payment of {amount} on my account",
            "the same transaction appears two times", "{merchant} took the money twice", "I got billed double for one purchase {when}",
            "there are two identical charges of {amount}", "I see the same purchase twice on my statement", "double charged at {merchant}",
            "you charged me {amount} two times", "one purchase, two payments taken",
        ],
        "indirect": [
            "I bought one thing at {merchant} but my balance went down by double", "in the app there's {amount} and then {amount} again a minute later",
            "I only paid once but it looks like I paid for two", "the {merchant} line is in my history two times",
            "my balance is lower than it should be, the {merchant} payment sits there two times",
        ],
        "detail": ["it's the same payment, it shows up two times", "I paid once but there are two of them", "same amount, same shop, twice"],
        "follow": ["I only bought it once", "please refund the second one", "both on {day}", "the receipt shows one payment"],
        "aside": ["I'm not double charged or anything", "it's only there once", "I checked and it's not a duplicate"],
        "op": ["One of the two charges is a pending authorisation and will drop off.", "I've raised a duplicate charge claim for you.",
               "Which of the two payments should be reversed?"],
    },
    "unrecognised_payment": {
        "description": "Customer does not recognise a payment on their statement",
        "fees": False, "confusable": ["transaction_charged_twice", "card_lost_or_stolen"], "vague": ["payment_problem"],
        "op_err": 3.0, "mistag": "card_lost_or_stolen",
        "open": [
            "there's a payment I don't recognise", "I don't know what this {amount} charge to {merchant} is", "unknown transaction on my statement",
            "I never made this purchase at {merchant}", "someone spent {amount} that wasn't me", "strange payment {when}, I didn't authorise it",
            "there's a {amount} debit I have no idea about", "a purchase from {merchant} I never made", "fraudulent payment on my account?",
            "I don't remember paying {merchant}",
        ],
        "indirect": [
            "I've never even been to {merchant}", "who is {merchant}? I've no idea why they took money",
            "I was at home all day {when} and apparently I bought something", "my statement shows a shop in {country} and I've never been there",
            "my son says it wasn't him either", "there's a name in my history I can't place at all",
        ],
        "detail": ["I didn't make that payment", "I've no idea what it is, it wasn't me", "I never bought anything there"],
        "follow": ["I still have my card with me", "I want to dispute it", "it says {merchant} online", "should I cancel my card?"],
        "aside": ["I recognise all the other payments", "it was definitely me who paid", "the payment itself is mine"],
        "op": ["I've opened a dispute for the payment.", "Sometimes merchants use a different name on statements; can you check?",
               "For safety I will cancel the card and order a new one."],
    },
    "refund_not_showing": {
        "description": "A refund from a merchant has not appeared in the account",
        "fees": False, "confusable": ["transaction_charged_twice", "transfer_pending"],
        "vague": ["money_missing", "payment_problem"],
        "open": [
            "my refund from {merchant} isn't showing", "the shop says they refunded me {ago} but I don't see it", "still no refund for my return",
            "where is my refund of {amount}?", "{merchant} processed a refund but the money's not back", "refund missing from my account",
            "got a refund confirmation but no money yet", "return processed by {merchant} but nothing in my account",
            "still waiting on the {merchant} refund", "my money from the refund has not come through",
        ],
        "indirect": [
            "I sent the parcel back to {merchant} {ago} and they say it's done on their side",
            "I cancelled the order and they say they've given me the money back",
            "the hotel cancelled my booking and said I'd get it back in a few days",
            "{merchant} emailed me to say it's on its way back to my card", "I returned the jacket {ago}, where's my money",
        ],
        "detail": ["the shop says they sent it back to me", "it's money {merchant} owes me from a return",
                   "they said they credited my card {ago}"],
        "follow": ["they gave me a receipt", "it was {amount}", "how long do refunds take?", "the reference they gave me is on the email"],
        "aside": ["I did get a refund from {merchant} last week, that one's fine", "the refund came through ok"],
        "op": ["Refunds can take up to 10 working days to appear.", "Please ask the merchant for the refund reference.",
               "I can see a pending credit from {merchant}."],
    },
    "transfer_pending": {
        "description": "A bank transfer is still pending or has not reached the recipient",
        "fees": False, "confusable": ["transfer_failed", "refund_not_showing"],
        "vague": ["money_missing", "transfer_problem"],
        "open": [
            "my transfer is still pending", "I sent money {ago} and it's still processing", "the transfer to my landlord hasn't arrived",
            "bank transfer stuck on pending", "when will my transfer of {amount} go through?", "payment to {iban} still not received by them",
            "money I sent {when} has not reached my friend", "the payment to my landlord is still processing",
            "transfer showing pending for {ago}", "when does the transfer actually arrive?",
        ],
        "indirect": [
            "I paid my {person} {when} and they still say nothing has landed", "the app just says in progress with a little clock",
            "my {person} keeps texting me asking where the money is", "it left my balance but hasn't got to them",
            "it's been sitting there in progress since {when}",
        ],
        "detail": ["it says pending and they haven't got it", "it left my account but hasn't reached them yet",
                   "still processing, it's not failed or anything"],
        "follow": ["it was to {iban}", "the recipient needs it today", "I sent it {when}", "it's for my rent"],
        "aside": ["my last transfer took a day to go through", "transfers usually arrive instantly"],
        "op": ["Transfers can take up to one working day.", "The transfer is with the receiving bank now.",
               "I can see it was sent {when}; it should arrive shortly."],
    },
    "transfer_failed": {
        "description": "A bank transfer failed, was rejected or returned",
        "fees": False, "confusable": ["transfer_pending", "card_declined"], "op_err": 3.0, "mistag": "transfer_pending",
        "vague": ["transfer_problem", "money_missing"],
        "open": [
            "my transfer failed", "the transfer to {iban} was returned", "I got a message that my payment was rejected",
            "why did my bank transfer fail?", "money came back after I sent it to {iban}", "transfer of {amount} bounced back",
            "the app says transfer unsuccessful", "the recipient bank rejected my transfer", "sending money failed with an error",
            "the transfer got cancelled and I don't know why",
        ],
        "indirect": [
            "I paid my {person} {when} but the money reappeared in my balance", "the money I sent is back with me and they never got it",
            "I tried to pay my {person} and got a red error screen", "my {person} says nothing came and now I have the money back",
            "it came back with a note saying the account name didn't match",
        ],
        "detail": ["the money came back to my account", "it says it was returned", "it didn't go through, I got an error"],
        "follow": ["the account details were right", "I tried twice", "the IBAN is {iban}", "is there a problem with my account?"],
        "aside": ["the transfer itself went through fine", "I've sent money to {iban} before with no problem"],
        "op": ["The receiving bank rejected the transfer because the name didn't match.", "The money has been returned to your balance.",
               "Please check the recipient's account details."],
    },
    "fee_charged": {
        "description": "Customer asks about a fee or charge applied to their account",
        "fees": True, "confusable": ["exchange_rate", "transaction_charged_twice"], "vague": ["charge_problem"],
        "open": [
            "why was I charged a fee", "there's a {small} fee on my account", "I got charged for withdrawing cash",
            "what is this extra charge of {small}?", "I was charged a fee for a transfer", "you took a commission on my top up",
            "there is a service charge I didn't expect", "you charged me {small} for nothing", "why is there a charge for the ATM withdrawal",
            "hidden fees on my account",
        ],
        "indirect": [
            "I took out {amount} and {small} more disappeared", "my balance is {small} short after using the cash machine",
            "nobody told me sending money costs something", "there's a small line in my statement that just says service",
            "my account was free when I opened it, now it isn't?",
        ],
        "detail": ["it's a small extra amount on top of the payment", "it says fee next to it", "the charge is for the cash withdrawal"],
        "follow": ["nobody told me about fees", "can you waive it?", "it was on {day}", "is this going to happen every month?"],
        "aside": ["I know there's a small fee for that", "I don't mind the fee"],
        "op": ["That is the ATM withdrawal fee after the free allowance.", "I've refunded the fee as a one-off.",
               "The fee is listed in our tariff."],
    },
    "exchange_rate": {
        "description": "Question or complaint about the exchange rate applied to a payment",
        "fees": False, "confusable": ["fee_charged", "card_declined"], "op_err": 3.0, "mistag": "fee_charged",
        "vague": ["charge_problem"],
        "open": [
            "the exchange rate you used was wrong", "I paid in {currency} and got a bad rate", "what exchange rate do you apply?",
            "the conversion to {currency} cost me more than expected", "why is the rate different from the one online?",
            "currency conversion looks off for my payment in {currency}", "the rate on my {currency} purchase was terrible",
            "how is the conversion rate calculated", "I got fewer {currency} than expected", "your exchange rate is worse than the market",
        ],
        "indirect": [
            "I paid {amount} in {country} and the pounds taken don't add up", "Google says one thing and you took quite a bit more",
            "I was on holiday in {country} and everything cost more than the price tag",
            "the hotel bill in {currency} came out much higher in pounds", "why is a dinner in {country} costing me so much more than the menu",
        ],
        "detail": ["the amount in pounds is higher than it should be for {currency}", "it's the conversion, not the price",
                   "it was a payment abroad in {currency}"],
        "follow": ["I was abroad in {country}", "the amount was {amount}", "is there a weekend markup?", "can you tell me the rate you used?"],
        "aside": ["I was abroad at the time, if that matters", "I had just come back from {country}"],
        "op": ["We use the interbank rate plus a markup at weekends.", "The rate is set when the merchant settles the payment.",
               "I can send you the rate that was applied."],
    },
    "update_contact_details": {
        "description": "Customer wants to change phone number, e-mail or address",
        "fees": False, "confusable": ["card_not_arrived", "pin_blocked"], "vague": ["account_details"],
        "open": [
            "I need to change my phone number", "please update my email to {email}", "I moved house, how do I change my address",
            "my new number is {phone}", "can you update my contact details", "I want to change the e-mail on my account",
            "I have a new mobile number", "change my address please, I moved", "update my e-mail address to {email}",
            "my contact info is out of date",
        ],
        "indirect": [
            "I don't use that old phone anymore, the codes go to a number I don't have", "we've just moved to a new flat",
            "my work email is the one you have and I'm leaving the company",
            "I'm not getting your texts because I switched networks and got a new sim", "your letters still go to my mum's place",
        ],
        "detail": ["I need the new details on the account", "the details you have are old", "it's about changing what's on file"],
        "follow": ["the new one is {phone}", "use {email} from now on", "my old email was {email}", "will my card still work?"],
        "aside": ["my address hasn't changed", "my details are up to date"],
        "op": ["I've updated your details.", "You can change this in the app under profile.",
               "For security, please confirm the change in the app."],
    },
}

# vague openings shared by a family of tags: the reason comes only in a later turn (the tag's "detail")
VAGUE = {
    "card_problem": ["I have a problem with my card", "my card isn't working properly", "something's up with my card",
                     "need help with my {bank} card", "issue with my card, can you help"],
    "payment_problem": ["there's something wrong with a payment to {merchant}", "I have a question about a transaction on my statement",
                        "something odd with a payment {when}", "I'm confused about a payment to {merchant}"],
    "money_missing": ["the money still isn't there", "I'm waiting for money that hasn't shown up", "where's my money?",
                      "some money should have been there by now"],
    "transfer_problem": ["there's a problem with a transfer I made", "question about a payment I sent {when}",
                         "I sent some money and something's wrong"],
    "charge_problem": ["I think I was charged too much", "the amount taken is more than it should be",
                       "my statement shows more than I expected"],
    "account_details": ["I need to sort out something on my account", "a question about my account details"],
}

GENERIC_OPENERS = ["hi, I need some help", "hello, I have a problem with my account", "hi there, quick question",
                   "good morning, something is wrong", "hey, can someone help me?", "hi, hope you're well",
                   "hello? is anyone there", "hi, I've been on hold for ages so trying the chat"]
GREETINGS = ["", "", "", "hi, ", "hello, ", "good morning, ", "hey ", "Hi there. ", "Dear support, "]
CLOSINGS = ["", "", "", " thanks", " thank you", " please help", "!!", " asap", " this is really annoying"]
ASIDE_LEAD = ["by the way, ", "also ", "just so you know, ", "", "not sure if it matters but "]
OP_WELCOME = ["Welcome to {bankname} support, you're chatting with {agent}.",
              "Hi, you're through to {agent} at {bankname}. Please never share your PIN or full card number in this chat.",
              "Thanks for contacting {bankname}. {agent} will be with you shortly.",
              "Hello and welcome! My name is {agent}, how are you today?"]
OP_VERIFY = ["Before we start, could you confirm the e-mail or phone number on your account?",
             "For security, can you confirm the last four digits of your card?",
             "Could you please verify your registered mobile number for me?"]
VERIFY_REPLIES = ["sure, it's {email}", "{phone}", "it's {last4}", "my number is {phone}", "{email} I think"]
OP_HOW = ["Thank you, you're verified. How can I help today?", "How can I help?", "Sure, what happened?",
          "Of course. Can you describe the issue?", "Thanks! What can I do for you?"]
OP_CLARIFY = ["Could you tell me a bit more about what happened?", "I'm sorry to hear that. Can you give me a few more details?",
              "Of course, what exactly is the problem?"]
OP_OPEN = ["Thanks for contacting us.", "I'm sorry to hear that.", "Let me look into it.", "Thank you for your message.",
           "Happy to help.", "Thanks for waiting.", "I understand, that must be frustrating."]
OP_ASK = ["Could you confirm your phone number?", "Can you tell me the last 4 digits of the card?",
          "Could you give me your registered e-mail?", "When did this happen?", "Which account is this about?",
          "Can you confirm the amount and the date?"]
OP_HOLD = ["I've passed this to the right team and they'll get back to you within 24 hours.",
           "Let me check this with my colleagues, one moment please.", "I've added a note to your account."]
OP_WRAP = ["Is there anything else I can help you with today?", "Anything else I can do for you?"]
CUST_BYE = ["no that's all, thanks", "no, thanks", "that's everything", "all good, cheers"]
OP_BYE = ["Thanks for banking with us, have a great day!", "Thank you for your patience. Goodbye!",
          "You'll get a short survey about this chat, we'd love your feedback."]
REPLIES = ["my number is {phone}", "email is {email}", "card {card}", "ok", "sure, it's {last4}", "yes", "ok thanks",
           "I already told the last person all this", "it was {when}"]
# texting shortcuts a customer may use (applied to template words, before slots are filled)
SLANG = {"please": "pls", "thanks": "thx", "you": "u", "your": "ur", "account": "acc", "because": "cos",
         "transfer": "trf", "payment": "pmt", "tomorrow": "tmrw", "received": "recieved", "pending": "pendng"}

MERCHANTS = ["Tesco", "Amazon", "Uber", "Lidl", "a petrol station", "Zara", "Netflix", "the hotel", "IKEA", "eBay",
             "Ryanair", "Deliveroo", "Boots", "Argos"]
WHERES = ["in Spain", "on the train", "at the airport", "in a bar", "abroad", "downtown", "at the gym", "on the bus"]
WHENS = ["yesterday", "this morning", "last night", "on Monday", "two days ago", "today", "at the weekend"]
AGOS = ["a week ago", "10 days ago", "two weeks ago", "last month", "5 days ago", "ages ago"]
DAYS = ["Monday", "Tuesday", "the 3rd", "the 14th", "Friday", "last Sunday"]
CURRENCIES = ["EUR", "USD", "dollars", "euros", "Swiss francs", "yen", "zloty"]
COUNTRIES = ["France", "the US", "Japan", "Poland", "Italy", "Thailand"]
BANKS = ["", "debit", "credit", "Visa", "Mastercard"]
PEOPLE = ["landlord", "sister", "builder", "mum", "flatmate", "friend"]
AGENTS = ["Sam", "Priya", "Tom", "Alex", "Grace", "Daniel"]
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


def slots(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    phone = rng.choice([f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
                        f"07{rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
                        f"+49{rng.randint(1000000000, 9999999999)}"])
    iban = f"GB{rng.randint(10, 99)} NWBK {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(10, 99)}"
    return {
        "merchant": rng.choice(MERCHANTS), "where": rng.choice(WHERES), "when": rng.choice(WHENS),
        "ago": rng.choice(AGOS), "day": rng.choice(DAYS), "currency": rng.choice(CURRENCIES),
        "country": rng.choice(COUNTRIES), "bank": rng.choice(BANKS), "person": rng.choice(PEOPLE),
        "agent": rng.choice(AGENTS), "bankname": "Northwind Bank",
        "amount": rng.choice(["£", "€", "$"]) + str(rng.choice([12, 25, 49.99, 120, 300, 1500, 7.5])),
        "small": rng.choice(["£1", "€2.50", "$3", "£5", "1%"]),
        "card": luhn_card(rng), "last4": str(rng.randint(1000, 9999)), "phone": phone,
        "email": f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}", "iban": iban,
    }


# the keyword arguments of data.demo.LanguagePack for this pack
PACK = {"tags": TAGS, "generic_openers": GENERIC_OPENERS, "greetings": GREETINGS, "closings": CLOSINGS, "op_open": OP_OPEN,
        "op_ask": OP_ASK, "op_how": OP_HOW, "replies": REPLIES, "slots": slots, "vague": VAGUE, "aside_lead": ASIDE_LEAD,
        "op_welcome": OP_WELCOME, "op_verify": OP_VERIFY, "verify_replies": VERIFY_REPLIES, "op_clarify": OP_CLARIFY,
        "op_hold": OP_HOLD, "op_wrap": OP_WRAP, "cust_bye": CUST_BYE, "op_bye": OP_BYE, "slang": SLANG}
