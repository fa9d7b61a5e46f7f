select id as customer_id, name, email, region from {{ ref('raw_customers') }}
