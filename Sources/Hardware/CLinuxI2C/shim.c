// See CLinuxI2C.h for why this shim exists. Only this file sees the kernel uapi headers.
#include "CLinuxI2C.h"

#include <stddef.h>
#include <sys/ioctl.h>
#include <linux/i2c.h>
#include <linux/i2c-dev.h>

_Static_assert(sizeof(CLinuxI2C_msg) == sizeof(struct i2c_msg), "CLinuxI2C_msg must mirror struct i2c_msg");
_Static_assert(offsetof(CLinuxI2C_msg, addr) == offsetof(struct i2c_msg, addr), "i2c_msg.addr");
_Static_assert(offsetof(CLinuxI2C_msg, flags) == offsetof(struct i2c_msg, flags), "i2c_msg.flags");
_Static_assert(offsetof(CLinuxI2C_msg, len) == offsetof(struct i2c_msg, len), "i2c_msg.len");
_Static_assert(offsetof(CLinuxI2C_msg, buf) == offsetof(struct i2c_msg, buf), "i2c_msg.buf");
_Static_assert(sizeof(union i2c_smbus_data) == CLinuxI2C_SMBUS_DATA_SIZE, "union i2c_smbus_data size");
_Static_assert(CLinuxI2C_M_RD == I2C_M_RD, "I2C_M_RD");
_Static_assert(CLinuxI2C_RDWR_MAX_MSGS == I2C_RDWR_IOCTL_MAX_MSGS, "I2C_RDWR_IOCTL_MAX_MSGS");
_Static_assert(CLinuxI2C_SMBUS_READ == I2C_SMBUS_READ, "I2C_SMBUS_READ");
_Static_assert(CLinuxI2C_SMBUS_WRITE == I2C_SMBUS_WRITE, "I2C_SMBUS_WRITE");
_Static_assert(CLinuxI2C_SMBUS_QUICK == I2C_SMBUS_QUICK, "I2C_SMBUS_QUICK");
_Static_assert(CLinuxI2C_SMBUS_BYTE == I2C_SMBUS_BYTE, "I2C_SMBUS_BYTE");
_Static_assert(CLinuxI2C_SMBUS_BYTE_DATA == I2C_SMBUS_BYTE_DATA, "I2C_SMBUS_BYTE_DATA");
_Static_assert(CLinuxI2C_SMBUS_I2C_BLOCK_DATA == I2C_SMBUS_I2C_BLOCK_DATA, "I2C_SMBUS_I2C_BLOCK_DATA");
_Static_assert(CLinuxI2C_SMBUS_BLOCK_MAX == I2C_SMBUS_BLOCK_MAX, "I2C_SMBUS_BLOCK_MAX");
_Static_assert(CLinuxI2C_FUNC_I2C == I2C_FUNC_I2C, "I2C_FUNC_I2C");
_Static_assert(CLinuxI2C_FUNC_10BIT_ADDR == I2C_FUNC_10BIT_ADDR, "I2C_FUNC_10BIT_ADDR");
_Static_assert(CLinuxI2C_FUNC_PROTOCOL_MANGLING == I2C_FUNC_PROTOCOL_MANGLING, "I2C_FUNC_PROTOCOL_MANGLING");
_Static_assert(CLinuxI2C_FUNC_SMBUS_PEC == I2C_FUNC_SMBUS_PEC, "I2C_FUNC_SMBUS_PEC");
_Static_assert(CLinuxI2C_FUNC_NOSTART == I2C_FUNC_NOSTART, "I2C_FUNC_NOSTART");
_Static_assert(CLinuxI2C_FUNC_SLAVE == I2C_FUNC_SLAVE, "I2C_FUNC_SLAVE");
_Static_assert(CLinuxI2C_FUNC_SMBUS_QUICK == I2C_FUNC_SMBUS_QUICK, "I2C_FUNC_SMBUS_QUICK");
_Static_assert(CLinuxI2C_FUNC_SMBUS_READ_BYTE == I2C_FUNC_SMBUS_READ_BYTE, "I2C_FUNC_SMBUS_READ_BYTE");
_Static_assert(CLinuxI2C_FUNC_SMBUS_WRITE_BYTE == I2C_FUNC_SMBUS_WRITE_BYTE, "I2C_FUNC_SMBUS_WRITE_BYTE");
_Static_assert(CLinuxI2C_FUNC_SMBUS_READ_BYTE_DATA == I2C_FUNC_SMBUS_READ_BYTE_DATA, "I2C_FUNC_SMBUS_READ_BYTE_DATA");
_Static_assert(CLinuxI2C_FUNC_SMBUS_WRITE_BYTE_DATA == I2C_FUNC_SMBUS_WRITE_BYTE_DATA, "I2C_FUNC_SMBUS_WRITE_BYTE_DATA");
_Static_assert(CLinuxI2C_FUNC_SMBUS_READ_WORD_DATA == I2C_FUNC_SMBUS_READ_WORD_DATA, "I2C_FUNC_SMBUS_READ_WORD_DATA");
_Static_assert(CLinuxI2C_FUNC_SMBUS_WRITE_WORD_DATA == I2C_FUNC_SMBUS_WRITE_WORD_DATA, "I2C_FUNC_SMBUS_WRITE_WORD_DATA");
_Static_assert(CLinuxI2C_FUNC_SMBUS_PROC_CALL == I2C_FUNC_SMBUS_PROC_CALL, "I2C_FUNC_SMBUS_PROC_CALL");
_Static_assert(CLinuxI2C_FUNC_SMBUS_READ_BLOCK_DATA == I2C_FUNC_SMBUS_READ_BLOCK_DATA, "I2C_FUNC_SMBUS_READ_BLOCK_DATA");
_Static_assert(CLinuxI2C_FUNC_SMBUS_WRITE_BLOCK_DATA == I2C_FUNC_SMBUS_WRITE_BLOCK_DATA, "I2C_FUNC_SMBUS_WRITE_BLOCK_DATA");
_Static_assert(CLinuxI2C_FUNC_SMBUS_READ_I2C_BLOCK == I2C_FUNC_SMBUS_READ_I2C_BLOCK, "I2C_FUNC_SMBUS_READ_I2C_BLOCK");
_Static_assert(CLinuxI2C_FUNC_SMBUS_WRITE_I2C_BLOCK == I2C_FUNC_SMBUS_WRITE_I2C_BLOCK, "I2C_FUNC_SMBUS_WRITE_I2C_BLOCK");
_Static_assert(CLinuxI2C_FUNC_SMBUS_HOST_NOTIFY == I2C_FUNC_SMBUS_HOST_NOTIFY, "I2C_FUNC_SMBUS_HOST_NOTIFY");

int CLinuxI2C_funcs(int fd, unsigned long *funcs) {
    return ioctl(fd, I2C_FUNCS, funcs);
}

int CLinuxI2C_set_address(int fd, unsigned long address) {
    return ioctl(fd, I2C_SLAVE, address);
}

int CLinuxI2C_rdwr(int fd, CLinuxI2C_msg *msgs, uint32_t count) {
    struct i2c_rdwr_ioctl_data data = { .msgs = (struct i2c_msg *)msgs, .nmsgs = count };
    return ioctl(fd, I2C_RDWR, &data);
}

int CLinuxI2C_smbus(int fd, uint8_t read_write, uint8_t command, uint32_t size, uint8_t *data) {
    struct i2c_smbus_ioctl_data args = {
        .read_write = read_write,
        .command = command,
        .size = size,
        .data = (union i2c_smbus_data *)(void *)data,
    };
    return ioctl(fd, I2C_SMBUS, &args);
}
