-- No folder config: the target schema and the project-wide view materialization.
select
    product_id,
    sku,
    sum(quantity) as units
from {{ ref('stg_sales') }}
join {{ ref('stg_products') }} using (product_id)
group by product_id, sku
having sum(quantity) > 5
