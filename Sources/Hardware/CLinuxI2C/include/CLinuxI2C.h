// CLinuxI2C: the i2c-dev ioctls as plain C functions for HALLinux.
//
// Why this shim exists: Swift cannot call the variadic `ioctl`, and importing <linux/i2c.h>
// into Swift exposes a union with a 34-byte tuple and kernel integer typedefs. The shim keeps
// the kernel uapi headers inside shim.c and gives Swift prefixed, fixed-signature functions over
// mirrored structs whose layout is checked against the kernel's at compile time (shim.c).
// Built against the kernel uapi headers (<linux/i2c-dev.h>, <linux/i2c.h> from linux-libc-dev);
// libi2c is not needed.
#ifndef CLINUXI2C_H
#define CLINUXI2C_H

#include <stdint.h>

/// Mirror of `struct i2c_msg` (<linux/i2c.h>); size and offsets asserted in shim.c.
typedef struct {
    uint16_t addr;
    uint16_t flags;
    uint16_t len;
    uint8_t *buf;
} CLinuxI2C_msg;

/// Bytes in `union i2c_smbus_data` (I2C_SMBUS_BLOCK_MAX + 2). Callers pass a buffer this long;
/// `byte` and `block[0]` are its first byte, `word` its first two (host order).
#define CLinuxI2C_SMBUS_DATA_SIZE 34

/// Kernel constants under prefixed names; shim.c asserts each equals the uapi header's value.
enum {
    /// `I2C_M_RD`: this message reads.
    CLinuxI2C_M_RD = 0x0001,
    /// `I2C_RDWR_IOCTL_MAX_MSGS`: messages per I2C_RDWR call.
    CLinuxI2C_RDWR_MAX_MSGS = 42,
    /// `I2C_SMBUS_READ` / `I2C_SMBUS_WRITE` (`read_write`).
    CLinuxI2C_SMBUS_READ = 1,
    CLinuxI2C_SMBUS_WRITE = 0,
    /// `I2C_SMBUS_*` transaction sizes.
    CLinuxI2C_SMBUS_QUICK = 0,
    CLinuxI2C_SMBUS_BYTE = 1,
    CLinuxI2C_SMBUS_BYTE_DATA = 2,
    CLinuxI2C_SMBUS_I2C_BLOCK_DATA = 8,
    /// `I2C_SMBUS_BLOCK_MAX`: data bytes in one block transfer.
    CLinuxI2C_SMBUS_BLOCK_MAX = 32,
    /// `I2C_FUNC_*` bits of the I2C_FUNCS mask.
    CLinuxI2C_FUNC_I2C = 0x00000001,
    CLinuxI2C_FUNC_10BIT_ADDR = 0x00000002,
    CLinuxI2C_FUNC_PROTOCOL_MANGLING = 0x00000004,
    CLinuxI2C_FUNC_SMBUS_PEC = 0x00000008,
    CLinuxI2C_FUNC_NOSTART = 0x00000010,
    CLinuxI2C_FUNC_SLAVE = 0x00000020,
    CLinuxI2C_FUNC_SMBUS_QUICK = 0x00010000,
    CLinuxI2C_FUNC_SMBUS_READ_BYTE = 0x00020000,
    CLinuxI2C_FUNC_SMBUS_WRITE_BYTE = 0x00040000,
    CLinuxI2C_FUNC_SMBUS_READ_BYTE_DATA = 0x00080000,
    CLinuxI2C_FUNC_SMBUS_WRITE_BYTE_DATA = 0x00100000,
    CLinuxI2C_FUNC_SMBUS_READ_WORD_DATA = 0x00200000,
    CLinuxI2C_FUNC_SMBUS_WRITE_WORD_DATA = 0x00400000,
    CLinuxI2C_FUNC_SMBUS_PROC_CALL = 0x00800000,
    CLinuxI2C_FUNC_SMBUS_READ_BLOCK_DATA = 0x01000000,
    CLinuxI2C_FUNC_SMBUS_WRITE_BLOCK_DATA = 0x02000000,
    CLinuxI2C_FUNC_SMBUS_READ_I2C_BLOCK = 0x04000000,
    CLinuxI2C_FUNC_SMBUS_WRITE_I2C_BLOCK = 0x08000000,
    CLinuxI2C_FUNC_SMBUS_HOST_NOTIFY = 0x10000000,
};

/// ioctl(fd, I2C_FUNCS, &funcs): the adapter's functionality mask. Returns 0 or -1 with errno.
int CLinuxI2C_funcs(int fd, unsigned long *funcs);

/// ioctl(fd, I2C_SLAVE, address): selects the 7-bit target for SMBus transfers.
/// Returns 0 or -1 with errno (EBUSY: a kernel driver owns the address).
int CLinuxI2C_set_address(int fd, unsigned long address);

/// ioctl(fd, I2C_RDWR, {msgs, count}): one combined transfer (repeated START between messages,
/// one STOP). Returns the number of messages transferred or -1 with errno.
int CLinuxI2C_rdwr(int fd, CLinuxI2C_msg *msgs, uint32_t count);

/// ioctl(fd, I2C_SMBUS, {read_write, command, size, data}); `data` is CLinuxI2C_SMBUS_DATA_SIZE
/// bytes laid out as `union i2c_smbus_data`. Returns 0 or -1 with errno.
int CLinuxI2C_smbus(int fd, uint8_t read_write, uint8_t command, uint32_t size, uint8_t *data);

#endif
