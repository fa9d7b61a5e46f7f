{% set currency = var('report_currency') %}
{% set fallback = var('fallback_currency', 'USD') %}

select
    t.tx_id,
    t.store_zip,
    t.booked_at,
    date_trunc('day', t.booked_at) as booked_day,
    coalesce(nullif(t.currency, ''), '{{ fallback }}') as currency,
    t.amount,
    round(t.amount * src.usd_rate / dst.usd_rate, 2) as amount_{{ currency | lower }}
from {{ ref('transactions') }} as t
join {{ ref('fx_rates') }} as src on src.currency = coalesce(nullif(t.currency, ''), '{{ fallback }}')
join {{ ref('fx_rates') }} as dst on dst.currency = '{{ currency }}'
