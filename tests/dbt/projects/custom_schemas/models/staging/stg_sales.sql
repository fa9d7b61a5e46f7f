select
    sale_id,
    product_id,
    quantity,
    cast(sold_on as date) as sold_on,
    channel
from {{ ref('sales') }}
