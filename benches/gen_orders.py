#!/usr/bin/env python3
"""Deterministic synthetic CCV-style web-shop orders as NDJSON.

usage: gen_orders.py N OUT [--seed S]

Every money value has exactly 2 decimals, counts are whole numbers or
halves (0.5, 1.5, 2.5), tax rates are 21/9/0 and country VAT rates are
whole numbers, so the exact decimal results of the mapping can also be
computed exactly in integer cents by jq/jaq (see orders.jq).
Stdlib only.
"""
import json
import random
import sys

COUNTRIES = ["NL", "NL", "NL", "BE", "BE", "DE", "FR", "LU", "AT", "ES", "IT", "GB", "JP"]
CURRENCIES = {"GB": "GBP", "JP": "JPY"}
FIRST = ["Jan", "Piet", "Marie", "Anna", "Kees", "Sophie", "Lars", "Eva", "Tom", "Fatima", "Noah", "Emma"]
LAST = ["Jansen", "de Vries", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos", "Peters", "Hendriks"]
STREETS = ["Dorpsstraat", "Kerkstraat", "Rue de la Gare", "Hauptstrasse", "Calle Mayor", "Via Roma", "High Street"]
CITIES = ["Utrecht", "Amsterdam", "Gent", "Berlin", "Paris", "Luxembourg", "Wien", "Madrid", "Roma", "London", "Tokyo"]
COMPANIES = ["Koffie BV", "Bakkerij Smit", "Acme GmbH", "Fleurs SARL", "Tea & Co Ltd"]
SHIPPING = ["postnl", "dhl", "ups", "pickup"]
PAYMENT = ["ideal", "creditcard", "bancontact", "paypal", "invoice"]


def money(cents):
    return f"{cents // 100}.{cents % 100:02d}"


def main():
    args = sys.argv[1:]
    seed = 42
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    n = int(args[0])
    out = open(args[1], "w") if len(args) > 1 and args[1] != "-" else sys.stdout
    rnd = random.Random(seed)
    buf = []
    for i in range(n):
        oid = 100000 + i
        country = rnd.choice(COUNTRIES)
        rows = []
        total = 0
        for r in range(rnd.randint(1, 5)):
            price = rnd.randint(50, 25000)                 # cents
            discount = rnd.choice([0, 0, 0, 10, 50, 100]) if price > 200 else 0
            if rnd.random() < 0.1:
                count2 = rnd.choice([1, 3, 5])             # 0.5, 1.5, 2.5
            else:
                count2 = 2 * rnd.randint(1, 10)
            count = f"{count2 // 2}.5" if count2 % 2 else str(count2 // 2)
            tax = rnd.choice([21, 21, 21, 9, 9, 0])
            if rnd.random() < 0.03:
                # An exact half-cent VAT tie: (price - discount) * count * tax / (100 + tax)
                # ends in 5 at the third decimal, so the rounding mode matters.
                tax = rnd.choice([21, 9])
                price, discount = (100 + tax) * (2 * rnd.randint(0, 60) + 1), 0
                count2 = rnd.choice([1, 3])
            total += (price - discount) * count2 // 2
            rows.append(
                '{"id":%d,"product_number":"SKU-%05d","product_name":"Product %d","count":%s,'
                '"price":%s,"discount":%s,"tax":%d,"weight":%d}'
                % (oid * 10 + r, rnd.randint(1, 99999), rnd.randint(1, 999), count,
                   money(price), money(discount), tax, rnd.randint(0, 5000)))
        shipping = rnd.choice([0, 495, 695, 995])
        total += shipping
        status = rnd.choice([1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 10, 11, 12, 13, 14])
        paid = rnd.random() < 0.8
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        company = json.dumps(rnd.choice(COMPANIES)) if rnd.random() < 0.3 else "null"
        day = rnd.randint(1, 28)
        hour = rnd.randint(0, 23)
        date = "2024-%02d-%02dT%02d:%02d:%02d+0%d:00" % (
            rnd.randint(1, 12), day, hour, rnd.randint(0, 59), rnd.randint(0, 59), rnd.choice([1, 2]))
        email = "%s.%s%d@example.%s" % (first.lower(), last.lower().replace(" ", ""), rnd.randint(1, 999),
                                        country.lower())
        buf.append(
            '{"id":%d,"ordernumber":%d,"status":%d,"paid":%s,"create_date":"%s","last_modified":"%s",'
            '"email":"%s","phone":"+31 6 %08d","currency":"%s","language":"%s",'
            '"total_price":%s,"shipping_costs":%s,"shipping_method":"%s","payment_method":"%s",'
            '"invoice_number":%d,"customer_id":%d,"is_test":false,"ip_address":"10.%d.%d.%d",'
            '"note":%s,"billing":{"company":%s,"full_name":"%s %s","street":"%s","housenumber":%d,'
            '"housenumber_suffix":null,"zipcode":"%04d AB","city":"%s","country_code":"%s"},'
            '"rows":[%s]}'
            % (oid, 2024000000 + i, status, "true" if paid else "false", date, date,
               email, rnd.randint(0, 99999999), CURRENCIES.get(country, "EUR"), country.lower(),
               money(total), money(shipping), rnd.choice(SHIPPING), rnd.choice(PAYMENT),
               500000 + i, rnd.randint(1, 50000), rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255),
               '"please ring twice"' if rnd.random() < 0.05 else "null",
               company, first, last, rnd.choice(STREETS), rnd.randint(1, 300), rnd.randint(1000, 9999),
               rnd.choice(CITIES), country, ",".join(rows)))
        if len(buf) >= 10000:
            out.write("\n".join(buf) + "\n")
            buf.clear()
    if buf:
        out.write("\n".join(buf) + "\n")
    out.close()


if __name__ == "__main__":
    main()
