"""Customer segments: a Python model over dim_customers.

Buckets every customer by how much and how often they buy. Returns a DuckDB
relation; tidegate materializes Python models as tables.
"""


def model(dim_customers):
    return dim_customers.project(
        """
        customer_id,
        country_code,
        order_count,
        lifetime_value,
        case
            when order_count = 0 then 'prospect'
            when is_high_value and order_count >= 10 then 'champion'
            when is_high_value then 'big_spender'
            when order_count >= 3 then 'loyal'
            else 'occasional'
        end as segment
        """
    )
