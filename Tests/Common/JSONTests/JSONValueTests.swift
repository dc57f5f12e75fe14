import Foundation
import JSON
import Testing

/// What the agent, LocalHub and the CLI rely on: integers kept apart from other numbers, the
/// bytes they have always written (Foundation's `JSONEncoder` is the oracle), member order for
/// the predictor, and RFC 7386 merge patches.
struct JSONValueTests {
    @Test func integersStayIntegersAndOtherNumbersAreDoubles() throws {
        #expect(try JSONValue.parse("5") == .integer(5))
        #expect(try JSONValue.parse("-7") == .integer(-7))
        #expect(try JSONValue.parse("5.5") == .number(5.5))
        #expect(try JSONValue.parse("9223372036854775807") == .integer(.max))
        #expect(try JSONValue.parse("9223372036854775808") == .number(9_223_372_036_854_775_808))
        #expect(try JSONValue.parse("0.25").doubleValue == 0.25)
        #expect(try JSONValue.parse("12").doubleValue == 12)
        #expect(try JSONValue.parse("3.5").intValue == nil)
    }

    /// Foundation's decoder read an integral value as an integer however it was written; so does this.
    @Test func numbersAreReadAsFoundationsDecoderReadThem() throws {
        for text in ["5", "5.0", "1e3", "1E2", "0.1e1", "-0", "1.5", "12345678901234567890", "9223372036854775807",
                     "9223372036854775808", "-2.5e-7", "1e300", "0.30000000000000004"] {
            let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            #expect(try JSONValue.parse(text) == foundation, "\(text)")
        }
    }

    @Test func aDoubleWithNoFractionIsWrittenAsAnInteger() {
        #expect(JSONValue.number(5).description == "5")
        #expect(JSONValue.number(-3).description == "-3")
        #expect(JSONValue.number(0.25).description == "0.25")
        #expect(JSONValue.number(1e300).description == "1e+300")
        #expect(JSONValue.number(.nan).description == "null")
        #expect(JSONValue.object(["a": .number(5), "b": .number(0.25), "c": .integer(-7), "d": .number(-3)]).description
            == #"{"a":5,"b":0.25,"c":-7,"d":-3}"#)
    }

    /// Found by fuzzing (fuzz/corpus/twin-patch/negative-zero.txt): `-0.0` in a desired patch was
    /// read as the double −0.0 but written back as `0`, which reads as the integer 0, so a merged
    /// twin did not round-trip. It is read as the integer 0, as Foundation's decoder reads it.
    @Test func negativeZeroReadsAsFoundationReadsItAndRoundTrips() throws {
        let patch = try JSONValue.parse(#"{"thresholds":{"temperature":{"low":-0.0}}}"#)
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"thresholds":{"temperature":{"low":-0.0}}}"#.utf8))
        #expect(patch == foundation)
        let text = String(decoding: patch.encoded(), as: UTF8.self)
        #expect(text == #"{"thresholds":{"temperature":{"low":0}}}"#)
        #expect(try JSONValue.parse(text) == patch)
        #expect(try JSONValue.parse("-0e5") == .integer(0))
    }

    /// The bytes `encoded()` writes are the ones `JSONEncoder` (.sortedKeys, .withoutEscapingSlashes)
    /// wrote before: twins stored by LocalHub, the agent's acks and status, the CLI's snapshots.
    @Test func encodedIsByteForByteWhatJSONEncoderWrote() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let values: [JSONValue] = [
            .object(["spikes": .integer(1), "spikeThreshold": .number(0.8), "B": .bool(true), "a": .null, "_x": .string("x"),
                     "é": .integer(6), "e": .integer(7), "Z": .array([]), "a10": .object([:]), "a9": .integer(10),
                     "$version": .integer(3), "aB": .integer(0), "ab": .integer(0)]),
            .string("a\u{8}b\u{c}c\n\r\t\u{1}\u{1f}\u{7f}/\"\\é😀\u{2028}"),
            .array([.number(0.1), .number(1e-5), .number(1e300), .number(-2.5e-7), .number(123_456_789.123), .number(1e16),
                    .number(.leastNonzeroMagnitude), .number(0.30000000000000004), .number(1e21), .number(100), .number(-0.0),
                    .integer(.min), .integer(.max)]),
            .object(["desired": .object(["sendFrequency": .string("5s"), "$version": .integer(2),
                                         "channels": .object(["humidity": .bool(false), "co2": .bool(true)])]),
                     "reported": .object(["fw": .string("1.2.0")])]),
        ]
        for value in values {
            #expect(value.encoded() == Array(try encoder.encode(value)), "\(value)")
        }
    }

    @Test func membersKeepTheirDocumentOrderButEqualityIgnoresIt() throws {
        let text = #"{"v":1,"type":"sample","id":7,"features":{"z_short":1.5,"delta":-0.25}}"#
        let value = try JSONValue.parse(text)
        #expect(value.encoded(sortingKeys: false) == Array(text.utf8))
        guard case .object(let members) = value else { Issue.record("not an object"); return }
        #expect(members.keys == ["v", "type", "id", "features"])
        #expect(members.map(\.key) == ["v", "type", "id", "features"])
        #expect(value == (try JSONValue.parse(#"{"features":{"delta":-0.25,"z_short":1.5},"id":7,"type":"sample","v":1}"#)))
        #expect(value.hashValue == (try JSONValue.parse(#"{"id":7,"features":{"delta":-0.25,"z_short":1.5},"v":1,"type":"sample"}"#)).hashValue)
    }

    @Test func anObjectBuiltInOrderKeepsItAndOneBuiltFromADictionaryIsSorted() {
        var members: JSONObject = ["name": .string("x"), "length": .integer(3)]
        members["payload"] = .string("p")
        members["name"] = .string("y")          // replaced in place
        #expect(String(decoding: JSONValue.object(members).encoded(sortingKeys: false), as: UTF8.self)
            == #"{"name":"y","length":3,"payload":"p"}"#)
        members["length"] = nil
        #expect(members.keys == ["name", "payload"] && members.count == 2 && members["length"] == nil)
        let fields: [String: JSONValue] = ["b": .integer(1), "a": .integer(2)]
        #expect(String(decoding: JSONValue.object(fields).encoded(sortingKeys: false), as: UTF8.self) == #"{"a":2,"b":1}"#)
        #expect(JSONValue.object(fields).objectValue == fields)
    }

    /// RFC 7386, Appendix A: every example, as the RFC gives it.
    @Test(arguments: [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, #"null"#, #"null"#),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ])
    func mergePatchFollowsRFC7386(_ target: String, _ patch: String, _ result: String) throws {
        let merged = try JSONValue.parse(target).merging(try JSONValue.parse(patch))
        #expect(merged == (try JSONValue.parse(result)))
        // Members already there keep their place; new ones follow.
        #expect(String(decoding: merged.encoded(sortingKeys: false), as: UTF8.self) == result)
    }

    /// LocalHub's admin requests and the CLI's pretty output go through Codable.
    @Test func codableRoundTripsThroughFoundation() throws {
        let value = JSONValue.object(["n": .integer(1), "x": .number(2.5), "whole": .number(3), "list": .array([.null, .bool(false)]),
                                      "nested": .object(["s": .string("a/b")])])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        #expect(String(decoding: data, as: UTF8.self) == #"{"list":[null,false],"n":1,"nested":{"s":"a/b"},"whole":3,"x":2.5}"#)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data)
            == .object(["n": .integer(1), "x": .number(2.5), "whole": .integer(3), "list": .array([.null, .bool(false)]),
                        "nested": .object(["s": .string("a/b")])]))
    }

    @Test func accessorsAndCommandLineValues() {
        let value = JSONValue.object(["a": .object(["b": .object([:])]), "list": .array([.object([:])])])
        #expect(value.objectDepth == 3)
        #expect(value["a"]?["b"] == .object([:]) && value["missing"] == nil && JSONValue.integer(1)["a"] == nil)
        #expect(JSONValue.integer(3).kind == "a number" && JSONValue.object([:]).kind == "an object")
        #expect(JSONValue.fromCommandLine("5") == .integer(5))
        #expect(JSONValue.fromCommandLine("5s") == .string("5s"))
        #expect(JSONValue.fromCommandLine(#"{"a":[1]}"#) == .object(["a": .array([.integer(1)])]))
    }
}
