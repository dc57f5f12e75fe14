import MQTT
import Testing

@Suite struct MQTTTopicTests {
    @Test func validFiltersFromTheSpec() throws {
        // §4.7.1.2 and §4.7.1.3 examples.
        for filter in ["sport/tennis/player1/#", "sport/#", "#", "+", "+/tennis/#", "sport/+/player1", "/+", "+/+", "a//b"] {
            try MQTTTopic.validateFilter(filter)
        }
    }

    @Test func invalidFiltersFromTheSpec() {
        #expect(throws: MQTTTopicError.misplacedMultiLevelWildcard(offset: 12)) { try MQTTTopic.validateFilter("sport/tennis#") }
        #expect(throws: MQTTTopicError.misplacedMultiLevelWildcard(offset: 13)) { try MQTTTopic.validateFilter("sport/tennis/#/ranking") }
        #expect(throws: MQTTTopicError.misplacedSingleLevelWildcard(offset: 5)) { try MQTTTopic.validateFilter("sport+") }
        #expect(throws: MQTTTopicError.empty) { try MQTTTopic.validateFilter("") }
    }

    @Test func namesRejectWildcardsAndNull() {
        #expect(throws: MQTTTopicError.wildcardInName(offset: 6)) { try MQTTTopic.validateName("sport/+") }
        #expect(throws: MQTTTopicError.containsNull(offset: 1)) { try MQTTTopic.validateName("a\u{0}") }
        #expect(throws: MQTTTopicError.tooLong(byteCount: 65_536)) {
            try MQTTTopic.validateName(String(repeating: "é", count: 32_768))
        }
        #expect(throws: Never.self) { try MQTTTopic.validateName("$iothub/twin/GET/?$rid=1") }
    }

    @Test func matching() {
        let table: [(String, String, Bool)] = [
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
            ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
            ("sport/#", "sport", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("#", "$SYS/monitor", false),
            ("+/monitor", "$SYS/monitor", false),
            ("$SYS/#", "$SYS/monitor", true),
            ("$iothub/twin/res/#", "$iothub/twin/res/200/?$rid=1", true),
            ("devices/dev1/messages/devicebound/#", "devices/dev1/messages/devicebound/a=b", true),
            ("devices/dev1/messages/devicebound/#", "devices/dev2/messages/devicebound/a=b", false),
        ]
        for (filter, name, expected) in table {
            #expect(MQTTTopic.matches(filter: filter, name: name) == expected, "\(filter) vs \(name)")
        }
    }
}
