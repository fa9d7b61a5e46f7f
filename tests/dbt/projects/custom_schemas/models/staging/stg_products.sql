{{ config(alias='products', tags=['catalog']) }}

select product_id, sku, upper(category) as category, list_price
from {{ ref('products') }}
