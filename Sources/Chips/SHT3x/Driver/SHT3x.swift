enum SHT3xPlaceholder {}
