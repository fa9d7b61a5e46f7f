create schema if not exists raw;
create table raw.numbers as select * from (values (1), (2), (3), (4), (5)) t(id);
create table raw.source as
select * from (values
    ('blue', 1, 'Larry', 'lking0@miitbeian.gov.cn', '''69.135.206.194''', timestamp '2008-09-12 19:08:31'),
    ('blue', 2, 'Larry', 'lperkins1@toplist.cz', '''64.210.133.162''', timestamp '1978-05-09 04:15:14')
) t(favorite_color, id, first_name, email, ip_address, updated_at);
