-- The customers table before the first build.
create schema if not exists crm;
create or replace table crm.customers (id integer, email varchar, tier varchar, updated_at timestamp);
insert into crm.customers values
    (1, 'customer1@example.com', 'gold', timestamp '2024-01-02 00:00:00'),
    (2, 'customer2@example.com', 'silver', timestamp '2024-01-03 00:00:00'),
    (3, 'customer3@example.com', 'gold', timestamp '2024-01-04 00:00:00'),
    (4, 'customer4@example.com', 'silver', timestamp '2024-01-05 00:00:00'),
    (5, 'customer5@example.com', 'gold', timestamp '2024-01-06 00:00:00'),
    (6, 'customer6@example.com', 'gold', timestamp '2024-01-07 00:00:00'),
    (7, 'customer7@example.com', 'gold', timestamp '2024-01-08 00:00:00'),
    (8, 'customer8@example.com', 'gold', timestamp '2024-01-09 00:00:00'),
    (9, 'customer9@example.com', 'bronze', timestamp '2024-01-10 00:00:00'),
    (10, 'customer10@example.com', 'silver', timestamp '2024-01-11 00:00:00'),
    (11, 'customer11@example.com', 'bronze', timestamp '2024-01-12 00:00:00'),
    (12, 'customer12@example.com', 'gold', timestamp '2024-01-13 00:00:00'),
    (13, 'customer13@example.com', 'bronze', timestamp '2024-01-14 00:00:00'),
    (14, 'customer14@example.com', 'bronze', timestamp '2024-01-15 00:00:00'),
    (15, 'customer15@example.com', 'bronze', timestamp '2024-01-16 00:00:00'),
    (16, 'customer16@example.com', 'silver', timestamp '2024-01-17 00:00:00'),
    (17, 'customer17@example.com', 'silver', timestamp '2024-01-18 00:00:00'),
    (18, 'customer18@example.com', 'bronze', timestamp '2024-01-19 00:00:00'),
    (19, 'customer19@example.com', 'silver', timestamp '2024-01-20 00:00:00'),
    (20, 'customer20@example.com', 'gold', timestamp '2024-01-21 00:00:00');
