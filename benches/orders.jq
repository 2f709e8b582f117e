# Benchmark mapping for jq and jaq (run with -c). Same semantics as orders.flow.
#
# jq/jaq compute with doubles, so money is handled in integer cents: every
# input amount has 2 decimals and every count is a multiple of 0.5, so
# (x*100|round) and (count*10|round) are exact integers, and a rounded
# quotient A/B of integers is computed exactly with floor, half away from zero.

def cents: . * 100 | round;
# round(a / b) half away from zero, for integers a and b > 0
def rdiv(a; b): if a < 0 then -(((-2 * a) + b) / (2 * b) | floor) else (((2 * a) + b) / (2 * b) | floor) end;

{"NL":8000,"BE":8010,"DE":8020,"FR":8030,"LU":8040,"AT":8050,"ES":8060,"IT":8070,"PT":8080,"IE":8090,
 "DK":8110,"SE":8120,"FI":8130,"PL":8140,"CZ":8150,"SK":8160,"HU":8170,"SI":8180,"HR":8190,"RO":8200,
 "BG":8210,"GR":8220,"CY":8230,"MT":8240,"EE":8250,"LV":8260,"LT":8270,"GB":8300,"CH":8310,"NO":8320} as $accounts
| {"NL":21,"BE":21,"DE":19,"FR":20,"LU":17,"AT":20,"ES":21,"IT":22,"GB":20} as $vat_rates
| select(.status != 8 and .paid)
| .billing as $bill
| ($vat_rates[$bill.country_code] // 0) as $vat
| (.total_price | cents) as $total
| {
    SourceId: .id,
    Number: .ordernumber,
    OrderDate: .create_date[0:10],
    Email: .email,
    Currency: .currency,
    CustomerName: ($bill.company // $bill.full_name),
    Street: $bill.street,
    PostalCode: $bill.zipcode,
    City: $bill.city,
    Country: $bill.country_code,
    RevenueAccount: ($accounts[$bill.country_code] // 8100),
    VatRate: $vat,
    Total: ($total / 100),
    Net: (rdiv($total * 100; 100 + $vat) / 100),
    Rows: [.rows[] | ((.price | cents) - (.discount | cents)) as $unit | {
      Sku: .product_number,
      Quantity: .count,
      UnitPrice: ($unit / 100),
      Vat: (rdiv($unit * (.count * 10 | round) * .tax; 10 * (100 + .tax)) / 100)
    }]
  }
