-- The post-hook of daily_revenue removed the days whose returns outweigh sales.
select * from {{ ref('daily_revenue') }} where revenue <= 0
