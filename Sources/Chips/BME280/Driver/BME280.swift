enum BME280Placeholder {}
