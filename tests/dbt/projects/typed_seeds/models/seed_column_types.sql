-- The seeds' column types as data, so a type difference is a row difference.
{% set seeds = {
    'stores': ['zip', 'store_name', 'region', 'opened_on', 'is_flagship'],
    'transactions': ['tx_id', 'store_zip', 'amount', 'booked_at', 'currency'],
    'fx_rates': ['currency', 'usd_rate'],
} %}
{% for seed, columns in seeds.items() %}
{% for column in columns %}
select distinct '{{ seed }}' as seed_name, '{{ column }}' as column_name, typeof({{ column }}) as data_type
from {{ ref(seed) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
{% if not loop.last %}union all{% endif %}
{% endfor %}
