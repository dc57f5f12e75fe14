import HALLinux
import Testing

/// Masks and bit values transcribed from the kernel's <linux/i2c.h>.
@Suite struct I2CFunctionalityTests {
    @Test func i2cStubDefaultIsSMBusOnlyWithByteDataAndI2CBlocks() {
        // i2c-stub's default functionality: QUICK | BYTE | BYTE_DATA | WORD_DATA | I2C_BLOCK.
        let stub = I2CFunctionality(rawValue: 0x0C7F_0000)
        #expect(!stub.supportsPlainI2C)
        #expect(stub.contains(.smbusQuick))
        #expect(stub.contains(.smbusReadByte) && stub.contains(.smbusWriteByte))
        #expect(stub.contains(.smbusReadByteData) && stub.contains(.smbusWriteByteData))
        #expect(stub.contains(.smbusReadWordData) && stub.contains(.smbusWriteWordData))
        #expect(stub.contains(.smbusReadI2CBlock) && stub.contains(.smbusWriteI2CBlock))
        #expect(!stub.contains(.smbusReadBlockData) && !stub.contains(.smbusProcessCall))
        #expect(stub.capabilities == [
            "SMBus quick command", "SMBus receive byte", "SMBus send byte", "SMBus read byte", "SMBus write byte",
            "SMBus read word", "SMBus write word", "I2C block read", "I2C block write",
        ])
        #expect(stub.description.hasPrefix("0x0C7F0000 (SMBus quick command, "))
    }

    @Test func raspberryPiAdapterOffersPlainI2C() {
        // i2c-bcm2835: I2C_FUNC_I2C | I2C_FUNC_SMBUS_EMUL (emulated SMBus incl. PEC).
        let pi = I2CFunctionality(rawValue: 0x0EFF_0009)
        #expect(pi.supportsPlainI2C)
        #expect(pi.contains(.smbusPEC))
        #expect(pi.contains(.smbusReadI2CBlock))
        #expect(pi.capabilities.first == "I2C")
    }

    @Test(arguments: [
        (UInt(0x0000_0001), "I2C"), (0x0000_0002, "10-bit addresses"), (0x0000_0004, "protocol mangling"),
        (0x0000_0008, "SMBus PEC"), (0x0000_0010, "no START"), (0x0000_0020, "target mode"),
        (0x0001_0000, "SMBus quick command"), (0x0002_0000, "SMBus receive byte"), (0x0004_0000, "SMBus send byte"),
        (0x0008_0000, "SMBus read byte"), (0x0010_0000, "SMBus write byte"), (0x0020_0000, "SMBus read word"),
        (0x0040_0000, "SMBus write word"), (0x0080_0000, "SMBus process call"), (0x0100_0000, "SMBus block read"),
        (0x0200_0000, "SMBus block write"), (0x0400_0000, "I2C block read"), (0x0800_0000, "I2C block write"),
        (0x1000_0000, "SMBus host notify"),
    ])
    func eachBitDecodesToOneCapability(bit: UInt, name: String) {
        #expect(I2CFunctionality(rawValue: bit).capabilities == [name])
    }

    @Test func unknownBitsAreKeptButNotNamed() {
        let odd = I2CFunctionality(rawValue: 0x4000_0000)
        #expect(odd.capabilities.isEmpty)
        #expect(odd.rawValue == 0x4000_0000)
        #expect(I2CFunctionality(rawValue: 0).description == "0x00000000 ()")
    }
}
