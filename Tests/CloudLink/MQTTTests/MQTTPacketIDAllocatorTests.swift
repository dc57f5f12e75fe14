import MQTT
import Testing

@Suite struct MQTTPacketIDAllocatorTests {
    @Test func startsAtOneAndCounts() {
        var ids = MQTTPacketIDAllocator()
        #expect(ids.allocate() == 1)
        #expect(ids.allocate() == 2)
        ids.release(1)
        #expect(ids.allocate() == 3)
    }

    @Test func wrapsFrom65535ToOneNeverZero() {
        var ids = MQTTPacketIDAllocator(startingAt: 65_534)
        #expect(ids.allocate() == 65_534)
        #expect(ids.allocate() == 65_535)
        #expect(ids.allocate() == 1)
        #expect(ids.inUse == [65_534, 65_535, 1])
        #expect(MQTTPacketIDAllocator(startingAt: 0).inUse.isEmpty)
    }

    @Test func skipsIDsStillInUseAfterWrapping() {
        var ids = MQTTPacketIDAllocator(startingAt: 65_535)
        #expect(ids.allocate() == 65_535)
        #expect(ids.allocate() == 1)
        #expect(ids.allocate() == 2)
        ids.release(1)
        // Walk all the way round: 3…65_534 then 1 (free again); 65_535 and 2 are skipped.
        var last: UInt16 = 0
        for _ in 3...65_534 { last = ids.allocate() ?? 0 }
        #expect(last == 65_534)
        #expect(ids.allocate() == 1)
        #expect(ids.allocate() == nil)  // all 65,535 in use
        ids.release(40_000)
        #expect(ids.allocate() == 40_000)
    }
}
