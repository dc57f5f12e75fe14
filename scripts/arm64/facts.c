// The arm64 probe's reference: what gcc, the compiler the kernel ABI is defined by, says on the
// machine it runs on about the structs and request numbers HALLinux hands to ioctl, the C types
// behind them, and the Sensirion CRC-8. scripts/arm64-check.sh compiles this with gcc inside the
// arm64 root and compares every `fact` line with the same line printed by the Swift probe
// (scripts/arm64/Probe/main.swift); `info` lines are printed for the reader only.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>
#include <linux/i2c.h>
#include <linux/i2c-dev.h>
#include "CLinuxI2C.h"

#define LAYOUT(type, name) printf("fact layout %s size %zu align %zu\n", name, sizeof(type), _Alignof(type))
#define FIELD(type, name, field) printf("fact layout %s.%s offset %zu\n", name, #field, offsetof(type, field))

// Sensirion CRC-8 (polynomial 0x31, init 0xFF), written the way the datasheets print it.
static uint8_t crc8(const uint8_t *data, size_t count) {
    uint8_t crc = 0xFF;
    for (size_t i = 0; i < count; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc & 0x80) ? (uint8_t)((crc << 1) ^ 0x31) : (uint8_t)(crc << 1);
    }
    return crc;
}

int main(void) {
    LAYOUT(struct i2c_msg, "i2c_msg");
    FIELD(struct i2c_msg, "i2c_msg", addr);
    FIELD(struct i2c_msg, "i2c_msg", flags);
    FIELD(struct i2c_msg, "i2c_msg", len);
    FIELD(struct i2c_msg, "i2c_msg", buf);
    LAYOUT(CLinuxI2C_msg, "CLinuxI2C_msg");
    FIELD(CLinuxI2C_msg, "CLinuxI2C_msg", addr);
    FIELD(CLinuxI2C_msg, "CLinuxI2C_msg", flags);
    FIELD(CLinuxI2C_msg, "CLinuxI2C_msg", len);
    FIELD(CLinuxI2C_msg, "CLinuxI2C_msg", buf);
    LAYOUT(struct i2c_rdwr_ioctl_data, "i2c_rdwr_ioctl_data");
    FIELD(struct i2c_rdwr_ioctl_data, "i2c_rdwr_ioctl_data", msgs);
    FIELD(struct i2c_rdwr_ioctl_data, "i2c_rdwr_ioctl_data", nmsgs);
    LAYOUT(struct i2c_smbus_ioctl_data, "i2c_smbus_ioctl_data");
    FIELD(struct i2c_smbus_ioctl_data, "i2c_smbus_ioctl_data", read_write);
    FIELD(struct i2c_smbus_ioctl_data, "i2c_smbus_ioctl_data", command);
    FIELD(struct i2c_smbus_ioctl_data, "i2c_smbus_ioctl_data", size);
    FIELD(struct i2c_smbus_ioctl_data, "i2c_smbus_ioctl_data", data);
    LAYOUT(union i2c_smbus_data, "i2c_smbus_data");
    printf("fact constant CLinuxI2C_SMBUS_DATA_SIZE %d\n", CLinuxI2C_SMBUS_DATA_SIZE);
    // CLinuxI2C_funcs takes `unsigned long *`; HALLinux passes a Swift UInt.
    printf("fact type unsigned-long size %zu\n", sizeof(unsigned long));
    printf("fact type pointer size %zu\n", sizeof(void *));
    printf("fact ioctl I2C_SLAVE 0x%x\n", (unsigned)I2C_SLAVE);
    printf("fact ioctl I2C_FUNCS 0x%x\n", (unsigned)I2C_FUNCS);
    printf("fact ioctl I2C_RDWR 0x%x\n", (unsigned)I2C_RDWR);
    printf("fact ioctl I2C_SMBUS 0x%x\n", (unsigned)I2C_SMBUS);
    uint16_t one = 1;
    printf("fact byte-order %s\n", *(uint8_t *)&one == 1 ? "little-endian" : "big-endian");

    const uint8_t beef[] = {0xBE, 0xEF};
    printf("fact crc8 BEEF 0x%02X\n", crc8(beef, 2));
    // Every two-byte word, folded with FNV-1a: one line that differs if any CRC does.
    uint32_t fnv = 2166136261u;
    for (uint32_t word = 0; word <= 0xFFFF; word++) {
        const uint8_t bytes[] = {(uint8_t)(word >> 8), (uint8_t)word};
        fnv = (fnv ^ crc8(bytes, 2)) * 16777619u;
    }
    printf("fact crc8 all-words-fnv1a 0x%08X\n", fnv);

    printf("info gcc: plain char is %s on this machine\n", (char)-1 < 0 ? "signed" : "unsigned");
    return 0;
}
