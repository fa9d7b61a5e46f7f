with orders as (
    select * from {{ ref('stg_orders') }}
)

select
    {{ parity_dates.surrogate_key(ref('stg_orders'), ['customer', "'orders'"]) }} as customer_key,
    orders.customer,
    c.city,
    {{ dbt.string_literal(dbt.escape_single_quotes(var('region_note', "it's local"))) }} as note,
    {{ dbt.listagg('cast(orders.id as ' ~ dbt.type_string() ~ ')', "', '", 'order by orders.id') }} as order_ids,
    {{ dbt.bool_or('orders.amount > 20') }} as has_big_order,
    count(*) as orders,
    sum(orders.amount) as total
from orders
join {{ source('raw', 'raw_customers') }} as c on c.name = orders.customer
group by 1, 2, 3, 4
