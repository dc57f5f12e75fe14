import IoTHub
import Testing

@Suite struct IoTHubPercentEncodingTests {
    @Test func encodesLikeTheEmbeddedSDK() {
        // A.2 example and A.7 content types; upper-case hex, unreserved set A–Z a–z 0–9 - _ . ~.
        #expect(IoTHubPercentEncoding.encode("dtmi:com:example:Thermostat;1") == "dtmi%3Acom%3Aexample%3AThermostat%3B1")
        #expect(IoTHubPercentEncoding.encode("azsdk-c/1.5.0") == "azsdk-c%2F1.5.0")
        #expect(IoTHubPercentEncoding.encode("application/json;charset=utf-8") == "application%2Fjson%3Bcharset%3Dutf-8")
        #expect(IoTHubPercentEncoding.encode("$.ct") == "%24.ct")
        #expect(IoTHubPercentEncoding.encode("a b+c~_-.") == "a%20b%2Bc~_-.")
        #expect(IoTHubPercentEncoding.encode("°C") == "%C2%B0C")
    }

    @Test func decodesEitherCaseAndKeepsPlus() throws {
        #expect(try IoTHubPercentEncoding.decode("%2fdevices%2Fdev1") == "/devices/dev1")
        #expect(try IoTHubPercentEncoding.decode("a+b") == "a+b")
        #expect(try IoTHubPercentEncoding.decode("%C2%B0C") == "°C")
    }

    @Test func malformedEscapes() {
        #expect(throws: IoTHubError.malformedPercentEncoding("ab%2", offset: 2)) { try IoTHubPercentEncoding.decode("ab%2") }
        #expect(throws: IoTHubError.malformedPercentEncoding("%ZZ", offset: 0)) { try IoTHubPercentEncoding.decode("%ZZ") }
        #expect(throws: IoTHubError.decodedTextNotUTF8("%C3%28")) { try IoTHubPercentEncoding.decode("%C3%28") }
    }

    @Test func propertyBagRoundTrip() throws {
        let bag = IoTHubPropertyBag([.init(name: "$.ct", value: "application/json"), .init(name: "flag", value: nil),
                                     .init(name: "empty", value: ""), .init(name: "k=v&x", value: "a&b=c")])
        #expect(bag.encoded == "%24.ct=application%2Fjson&flag&empty=&k%3Dv%26x=a%26b%3Dc")
        #expect(try IoTHubPropertyBag(parsing: bag.encoded) == bag)
        #expect(bag.value(for: "$.ct") == "application/json")
        #expect(bag.value(for: "flag") == nil && bag.contains("flag"))
        #expect(throws: IoTHubError.malformedPropertyBag("=x", reason: "a segment has a value but no name")) {
            try IoTHubPropertyBag(parsing: "=x")
        }
    }
}
