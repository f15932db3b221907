-- Run by the MySQL image's entrypoint at the first start only (empty data folder).
-- The table the weather generator fills; the same definition as the local stack's (stack/mariadb.py).
CREATE DATABASE IF NOT EXISTS CS544;
USE CS544;
CREATE TABLE IF NOT EXISTS temperatures (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, station_id TEXT, date DATE, degrees DOUBLE);
