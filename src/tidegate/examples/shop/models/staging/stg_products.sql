{{ config(materialized='view') }}

select
    id                                  as product_id,
    name                                as product_name,
    category,
    {{ cents_to_dollars('price_cents') }} as unit_price
from {{ ref('raw_products') }}
