"""The PII battery: personal data in dialogue sentences (English and Russian), one list per placeholder
type, and plain sentences (amounts, dates, times, order and contract ids, short numbers) that masking
must leave alone. ``tests/test_pii.py`` asserts on it and ``benchmarks/pii_battery.py`` prints it as a
table; both call :func:`evaluate`.

A case is masked when no digit run of its PII (2+ digits) and none of its words are left, and typed
when, moreover, its placeholder (``[CARD]`` ...) is in the masked sentence.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    kind: str       # the expected placeholder, e.g. "CARD"
    pii: str        # the personal data exactly as the sentence writes it
    sentence: str   # a dialogue line that contains it
    lang: str       # "en" or "ru"


EN = {
    "CARD": ["customer: my card {} was charged twice", "customer: please block the card {} now",
             "operator: I can see a payment from card {} yesterday"],
    "IBAN": ["customer: send the refund to my IBAN {} please", "customer: the transfer to {} has not arrived"],
    "ACCOUNT": ["customer: my account number is {} and it is frozen", "operator: the salary went to account {}"],
    "EMAIL": ["customer: write to me at {} about the refund", "customer: my e-mail is {} thanks"],
    "PHONE": ["customer: call me back on {} after lunch", "customer: my new phone number is {}"],
    "PASSPORT": ["customer: my passport is {} if you need it", "operator: please confirm passport {}"],
    "SNILS": ["customer: my SNILS is {} for the pension transfer"],
    "INN": ["customer: my INN is {} for the tax refund", "operator: the taxpayer number {} is on file"],
    "DOC_ID": ["customer: my passport number is {} and it expires soon",
               "customer: the document id {} is on the form"],
}
RU = {
    "CARD": ["клиент: с карты {} списали деньги дважды", "клиент: заблокируйте, пожалуйста, карту {}",
             "оператор: вижу операцию по карте {} вчера"],
    "IBAN": ["клиент: верните деньги на IBAN {} пожалуйста", "клиент: перевод на {} так и не дошёл"],
    "ACCOUNT": ["клиент: мой счёт {} заблокирован", "оператор: зарплата пришла на счет {}"],
    "EMAIL": ["клиент: напишите мне на {} по поводу возврата", "клиент: моя почта {} спасибо"],
    "PHONE": ["клиент: перезвоните мне на {} после обеда", "клиент: мой новый телефон {}"],
    "PASSPORT": ["клиент: паспорт {} выдан в прошлом году", "оператор: подтвердите паспортные данные {}"],
    "SNILS": ["клиент: мой СНИЛС {} для перевода пенсии", "оператор: СНИЛС {} привязан к профилю"],
    "INN": ["клиент: мой ИНН {} для налогового вычета", "оператор: ИНН {} указан в анкете"],
    "DOC_ID": ["клиент: номер документа {} указан в заявлении"],
    "NAME": ["клиент: меня зовут {}, я звоню по поводу кредита", "оператор: {}, ваша заявка одобрена",
             "клиент: перевод от {} не пришёл", "оператор: договор оформлен на {} верно?"],
}

VALUES = {
    "CARD": ["4111 1111 1111 1111", "4111 1111 1111 1112",  # Luhn-valid and Luhn-invalid
             "4111  1111  1111  1111", "5500-0000-0000-0004", "4111111111111111", "6011000990139424",
             "2200 1234 5678 9010", "3782 822463 10005", "4222222222222", "6759649826438453123",
             "5469 3800 1234 5678", "4276-3800-1234-5679", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
             "4111\u00a01111\u00a01111\u00a01111",  # no-break spaces
             "4111.1111.1111.1111", "\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11",
             "4111\u200b1111\u200b1111\u200b1111"],  # dots, full-width digits, zero-width spaces
    "IBAN": ["DE89 3704 0044 0532 0130 00", "de89 3704 0044 0532 0130 00", "GB29NWBK60161331926819",
             "GB29 NWBK 6016 1331 9268 19", "FR14 2004 1010 0505 0001 3M02 606", "nl91abna0417164300",
             "CH93 0076 2011 6238 5295 7", "KZ86125KZT5004100100", "ES91 2100 0418 4502 0005 1332",
             "IT60X0542811101000000123456", "BE68 5390 0754 7034", "AT61 1904 3002 3457 3201"],
    "ACCOUNT": ["40817810099910004312", "40702810400000012345", "40817 810 0 9991 0004312",
                "4081 7810 0999 1000 4312", "42301810900000001234", "40802810538000123456",
                "123456789", "987654321", "40817-810-5-3809-1234567", "30101810400000000225",
                "12345678901"],
    "EMAIL": ["anna.k@mail.de", "john [at] example [dot] com", "john(at)example(dot)com",
              "ivan.petrov собака yandex точка ru", "IVAN.SIDOROV@MAIL.RU", "john at example dot com",
              "maria_ivanova-1985@gmail.com", "test+promo@bank.co.uk", "john @ example.com",
              "petya{at}inbox{dot}ru", "oleg.n[at]corp-mail.org", "olga@почта.рф",
              "john.doe at gmail.com"],
    "PHONE": ["+7 (916) 123-45-67", "+79161234567", "8 (916) 123-45-67", "8-916-123-45-67", "89161234567",
              "8 916 123 45 67", "+44 7123 456789", "+1 (555) 123-4567", "(555) 123-4567", "555-123-4567",
              "+49 30 12345678", "8 800 555 35 35", "07123 456789", "+7 916 123 45 67", "8(495)1234567",
              "+7 (495) 123 45 67", "916.123.4567"],
    "PASSPORT": ["45 08 123456", "4508 123456", "4508123456", "45 08 №123456", "46 11 654321", "4612 654321",
                 "серия 4508 номер 123456", "серия 45 08 № 123456", "75 1234567", "series 4508 number 123456"],
    "SNILS": ["112-233-445 95", "123-456-789 64", "987-654-321 83", "112 233 445 95", "11223344595",
              "156-001-234 10", "045-812-671 60", "123-456-789-64"],
    "INN": ["7707083893", "500100732259", "7736207543", "771501123425", "7728168971", "502912345634",
            "7702070139", "780123456724", "7710140679", "660198765450"],
    "DOC_ID": ["AB1234567", "N12345678", "XYZ123456789", "D1234567", "KP7654321"],
    "NAME": ["Иванов Иван Иванович", "Анна Сергеевна", "Петрова Мария Александровна", "Сидоров Пётр Ильич",
             "Иван Петрович Сидоров", "Кузнецова Ольга Викторовна", "Смирнов Алексей Николаевич",
             "Ольга Дмитриевна", "Ивановой Анны Сергеевны", "Салтыков-Щедрин Михаил Евграфович"],
}
# the hostile tester's misses on the old code, each in its own sentence
EXTRA = [
    Case("CARD", "4111111111111111", "customer: card4111111111111111 was declined", "en"),
    Case("CARD", "4111111111111111", "customer: the number is 4111111111111111exp 12/27", "en"),
    Case("CARD", "4111111111111111", "customer: card 4111111111111111 1234 is the one with the fee", "en"),
    Case("CARD", "5500 0000 0000 0004", "клиент: карта 5500 0000 0000 0004 2 раза списала", "ru"),
    Case("CARD", "4111111111111111", "клиент: карта4111111111111111 не работает", "ru"),
    Case("PHONE", "9031234568", "клиент: мой мобильный 9031234568", "ru"),
    Case("PHONE", "+7 916 123 45 67", "customer: tel:+7 916 123 45 67, any time", "en"),
]


def _pair(kind: str, values: list[str]) -> list[Case]:
    """Each value once, in English and Russian templates in turn (names only in Russian ones)."""
    templates = [("en", t) for t in EN.get(kind, [])] + [("ru", t) for t in RU.get(kind, [])]
    en = [t for t in templates if t[0] == "en"]
    ru = [t for t in templates if t[0] == "ru"]
    mixed = [x for pair in zip(en, ru) for x in pair] + en[len(ru):] + ru[len(en):]
    return [Case(kind, v, mixed[i % len(mixed)][1].format(v), mixed[i % len(mixed)][0]) for i, v in enumerate(values)]


CASES: list[Case] = [c for kind, values in VALUES.items() for c in _pair(kind, values)] + EXTRA

PLAIN = [
    # English
    "customer: I paid $1,234.56 on 2024-01-15 and it is still pending",
    "customer: my order 2024-000123 never arrived",
    "customer: order ORD-55821 was cancelled at 14:30 without notice",
    "customer: the fee was 1 250,00 руб instead of 250",
    "operator: your reference number is 12345678",
    "customer: the ATM kept 200 EUR at 09:15 this morning",
    "customer: I was charged 3 times for the same 15.99 purchase",
    "operator: the transfer will arrive within 3-5 business days",
    "customer: my card ending in 1234 was declined at 18:45",
    "customer: invoice INV-2024-0042 shows 2 500.00 USD",
    "operator: the code 482913 expires in 10 minutes",
    "customer: I top up 50 GBP every week since 01/03/2024",
    "customer: the exchange rate was 1.0834 on 2024-02-29",
    "operator: ticket 2024-000987 has been escalated",
    "customer: contract No. 45/2023-K says the rate is 12.5%",
    "customer: why did 10 000 USD take 4 days to arrive",
    "operator: the limit is 150 000 per month and 5 000 per day",
    "customer: the payment on 2024-01-15 14:30 was refunded only partially",
    "customer: ref 87654321, amount 99.90, date 12.02.2024",
    "operator: your branch is number 0427 on 5th avenue",
    "customer: it happened at 23:59:59 on December 31",
    "customer: I sent €2.500,00 to my landlord on 03.04.2024",
    "operator: we refunded 1,250.00 to you on 2024-03-05 at 10:00",
    "customer: order #A-778812 for 3 items, total 47.20",
    "customer: between 2023 and 2024 I paid 12 fees of 4.99",
    "operator: case ORD-2024-5517 is closed",
    "customer: the app version 5.12.3 crashes on login",
    "customer: I have 2 cards and 1 savings account opened in 2019",
    # Russian
    "клиент: заказ 2024-000123 так и не пришёл",
    "клиент: списали 1 250,00 руб. вместо 250 руб.",
    "клиент: перевод на 15 000 ₽ от 15.01.2024 не дошёл",
    "оператор: номер обращения 12345678, ответим до 18:00",
    "клиент: договор № 45-2024/ПК от 01.02.2024",
    "клиент: платёж в 14:30 на сумму 3 499,90 рублей завис",
    "оператор: код подтверждения 4821 действует 5 минут",
    "клиент: кредит на 1 500 000 руб под 12,9% на 5 лет",
    "клиент: 2024-01-15 в 09:00 сняли комиссию 99 руб",
    "оператор: заявка ORD-55821 передана в отдел претензий",
    "клиент: отделение № 8611/0123 не принимает наличные",
    "клиент: с 9:00 до 18:00 не могу войти в приложение",
    "оператор: лимит 100 000 руб в сутки и 1 000 000 в месяц",
    "клиент: заказ 778812 на 3 товара, итого 4 720 руб",
    "клиент: в 2023 году платил 12 раз по 490 руб",
    "оператор: кэшбэк 5% начислится 10 числа",
    "клиент: счёт-фактура 2024-0042 на 25 000,00 руб",
    "клиент: в банкомате на Ленина 15 зажевало 5 000 рублей",
    "оператор: ваша заявка № 2024-000987 рассматривается 3-5 дней",
    "клиент: курс был 92,45 руб за доллар 29.02.2024",
    "клиент: последние цифры карты 5678, списание 12.03.2024 в 22:10",
    "оператор: ставка по вкладу 16% годовых на 6 месяцев",
    "клиент: у меня 2 карты и 1 вклад с 2019 года",
    "клиент: оплатил 12 500 ₽ за 3 месяца вперёд",
    "оператор: обращение 2024-07-15/0042 закрыто",
    "клиент: номер заказа 87654321, доставка 10.10.2024",
    "клиент: списали 1\u00a0250\u00a0000 руб за обслуживание",
    "клиент: 15.01.2024 14:30 — платёж 7 500 руб не прошёл",
    "оператор: перезвоните нам с 9:00 до 21:00 по будням",
    "customer: the bill for 2024-01 was 1,299.00 and for 2024-02 1,349.00",
    "customer: my PIN was reset on 2024-01-15 at 14:30:12",
    "operator: please call us back between 9:00 and 21:00",
    "клиент: платёж 15.01.2024 14.30.00 на 1.234.567,89 руб",
    "customer: please visit our site at bank.ru for the tariffs",
]

_STOP = {"at", "dot", "com", "ru", "de", "uk", "co", "org", "собака", "точка", "рф", "number", "series", "серия",
         "номер"}
_WORDS = re.compile(r"[^\W\d_]+")
_DIGITS = re.compile(r"\d{2,}")


def leftovers(case: Case, masked: str) -> list[str]:
    """The parts of ``case.pii`` still in ``masked``: digit runs of 2+ digits that occur in the PII's
    digits, and the PII's own words (3+ letters, not in the sentence around it)."""
    pii_digits = "".join(ch for ch in case.pii if ch.isdigit())
    left = [d for d in _DIGITS.findall(masked) if pii_digits and d in pii_digits]
    around = {w.lower() for w in _WORDS.findall(case.sentence.replace(case.pii, " "))}
    words = {w.lower() for w in _WORDS.findall(case.pii) if len(w) >= 3} - around - _STOP
    out_words = {w.lower() for w in _WORDS.findall(masked)}
    return left + sorted(words & out_words)


@dataclass
class Report:
    rows: list[dict] = field(default_factory=list)      # per type: kind, cases, masked, typed, recall
    plain: dict = field(default_factory=dict)           # sentences, changed, rate
    misses: list[tuple[Case, str]] = field(default_factory=list)
    over_masked: list[tuple[str, str]] = field(default_factory=list)


def evaluate(mask: Callable[[str], str]) -> Report:
    """Run ``mask`` on every case and plain sentence."""
    rep = Report()
    by_kind: dict[str, list[int]] = {}
    for case in CASES:
        out = mask(case.sentence)
        masked = not leftovers(case, out)
        typed = masked and f"[{case.kind}]" in out
        stats = by_kind.setdefault(case.kind, [0, 0, 0])
        stats[0] += 1
        stats[1] += masked
        stats[2] += typed
        if not typed:
            rep.misses.append((case, out))
    for kind, (n, m, t) in by_kind.items():
        rep.rows.append({"kind": kind, "cases": n, "masked": m, "typed": t, "recall": t / n})
    for s in PLAIN:
        out = mask(s)
        if out != s:
            rep.over_masked.append((s, out))
    rep.plain = {"sentences": len(PLAIN), "changed": len(rep.over_masked),
                 "rate": len(rep.over_masked) / len(PLAIN)}
    return rep


def table(rep: Report) -> str:
    """The report as a markdown table (what ``benchmarks/pii_battery.py`` prints)."""
    lines = ["| type | cases | masked | right type | recall |", "|---|---:|---:|---:|---:|"]
    for r in rep.rows:
        lines.append(f"| {r['kind']} | {r['cases']} | {r['masked']} | {r['typed']} | {r['recall']:.3f} |")
    total = sum(r["cases"] for r in rep.rows)
    typed = sum(r["typed"] for r in rep.rows)
    lines.append(f"| all | {total} | {sum(r['masked'] for r in rep.rows)} | {typed} | {typed / total:.3f} |")
    p = rep.plain
    lines += ["", "| plain sentences | changed | over-masking rate |", "|---:|---:|---:|",
              f"| {p['sentences']} | {p['changed']} | {p['rate']:.3f} |"]
    return "\n".join(lines)
