enum ADXL345Placeholder {}
