#include "userspace/dns/wire.h"

#include <ldns/ldns.h>

#include <charconv>
#include <cstring>
#include <memory>

namespace svcrouter::dns {

namespace {

char lowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void put32(std::string& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}

}  // namespace

std::string_view rcodeName(uint16_t rcode) {
  switch (rcode) {
    case kNoError:
      return "NOERROR";
    case kFormErr:
      return "FORMERR";
    case kServFail:
      return "SERVFAIL";
    case kNxDomain:
      return "NXDOMAIN";
    case kNotImp:
      return "NOTIMP";
    case kRefused:
      return "REFUSED";
    case kBadVers:
      return "BADVERS";
    default:
      return "OTHER";
  }
}

std::string_view typeName(uint16_t type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeNs:
      return "NS";
    case kTypeCname:
      return "CNAME";
    case kTypeSoa:
      return "SOA";
    case kTypePtr:
      return "PTR";
    case kTypeMx:
      return "MX";
    case kTypeTxt:
      return "TXT";
    case kTypeAaaa:
      return "AAAA";
    case kTypeSrv:
      return "SRV";
    case kTypeAny:
      return "ANY";
    default:
      return "";
  }
}

std::string lowerName(std::string_view wire) {
  std::string out(wire);
  lowerNameInto(wire, out.data());
  return out;
}

// Label length bytes are below 64, so lowering every byte leaves them alone.
void lowerNameInto(std::string_view wire, char* out) {
  for (size_t i = 0; i < wire.size(); ++i) out[i] = lowerAscii(wire[i]);
}

std::optional<std::string> nameFromDotted(std::string_view text) {
  if (text.empty() || text.size() > 1024) return std::nullopt;
  ldns_rdf* rdf = nullptr;
  std::string z(text);
  if (ldns_str2rdf_dname(&rdf, z.c_str()) != LDNS_STATUS_OK || !rdf) return std::nullopt;
  std::string wire(reinterpret_cast<const char*>(ldns_rdf_data(rdf)), ldns_rdf_size(rdf));
  ldns_rdf_deep_free(rdf);
  if (wire.size() > kMaxNameSize) return std::nullopt;
  return wire;
}

std::string dottedName(std::string_view wire) {
  ldns_rdf* rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, wire.size(), wire.data());
  if (!rdf) return "?";
  char* text = ldns_rdf2str(rdf);
  ldns_rdf_deep_free(rdf);
  std::string out = text ? text : "?";
  free(text);
  return out;
}

std::string prefixLabel(std::string_view label, std::string_view wire) {
  if (label.empty() || label.size() > 63 || label.size() + 1 + wire.size() > kMaxNameSize)
    return "";
  std::string out;
  out.reserve(label.size() + 1 + wire.size());
  out.push_back(static_cast<char>(label.size()));
  out.append(label);
  out.append(wire);
  return out;
}

std::optional<size_t> suffixAt(std::string_view wire, std::string_view tail) {
  size_t pos = 0;
  while (pos < wire.size()) {
    if (wire.size() - pos == tail.size() && wire.substr(pos) == tail) return pos;
    size_t len = static_cast<uint8_t>(wire[pos]);
    if (len == 0) break;
    pos += len + 1;
  }
  return std::nullopt;
}

size_t labelCount(std::string_view wire) {
  size_t n = 0, pos = 0;
  while (pos < wire.size() && wire[pos] != 0) {
    pos += static_cast<uint8_t>(wire[pos]) + 1;
    ++n;
  }
  return n;
}

std::string_view firstLabel(std::string_view wire) {
  if (wire.empty()) return {};
  size_t len = static_cast<uint8_t>(wire[0]);
  if (len + 1 > wire.size()) return {};
  return wire.substr(1, len);
}

std::string reverseName(const IpAddr& ip) {
  const auto& b = ip.bytes();
  std::string out;
  if (ip.isV4()) {
    for (int i = 15; i >= 12; --i) {
      std::string digits = std::to_string(b[i]);
      out.push_back(static_cast<char>(digits.size()));
      out += digits;
    }
    out += std::string("\7in-addr\4arpa\0", 14);
    return out;
  }
  static const char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out.push_back(1);
    out.push_back(kHex[b[i] & 0xf]);
    out.push_back(1);
    out.push_back(kHex[b[i] >> 4]);
  }
  out += std::string("\3ip6\4arpa\0", 10);
  return out;
}

std::string dashedLabel(const IpAddr& ip) {
  std::string text = ip.str();
  for (char& c : text)
    if (c == '.' || c == ':') c = '-';
  return text;
}

std::optional<IpAddr> parseDashedLabel(std::string_view label) {
  if (label.empty() || label.size() > 63) return std::nullopt;
  std::string text(label);
  size_t dashes = 0;
  for (char c : text) dashes += c == '-';
  // Four parts: IPv4 (a-b-c-d); anything else with dashes: IPv6.
  bool v4 = dashes == 3 && text.find_first_not_of("0123456789-") == std::string::npos;
  for (char& c : text)
    if (c == '-') c = v4 ? '.' : ':';
  auto ip = IpAddr::parse(text);
  if (!ip || ip->isV4() != v4) return std::nullopt;
  return ip;
}

std::string recordTail(uint16_t type, uint32_t ttl, std::string_view rdata) {
  std::string out;
  out.reserve(10 + rdata.size());
  put16(out, type);
  put16(out, kClassIn);
  put32(out, ttl);
  put16(out, static_cast<uint16_t>(rdata.size()));
  out.append(rdata);
  return out;
}

std::string addressRdata(const IpAddr& ip) {
  const auto& b = ip.bytes();
  if (ip.isV4()) return std::string(reinterpret_cast<const char*>(b.data()) + 12, 4);
  return std::string(reinterpret_cast<const char*>(b.data()), 16);
}

std::string srvRdata(uint16_t priority, uint16_t weight, uint16_t port, std::string_view target) {
  std::string out;
  put16(out, priority);
  put16(out, weight);
  put16(out, port);
  out.append(target);
  return out;
}

std::string txtRdata(std::string_view text) {
  std::string out;
  text = text.substr(0, 255);
  out.push_back(static_cast<char>(text.size()));
  out.append(text);
  return out;
}

std::string soaRdata(std::string_view mname, std::string_view rname, uint32_t serial,
                     uint32_t refresh, uint32_t retry, uint32_t expire, uint32_t minimum) {
  std::string out(mname);
  out.append(rname);
  for (uint32_t v : {serial, refresh, retry, expire, minimum}) put32(out, v);
  return out;
}

// ---- MessageWriter ----

void MessageWriter::header(uint16_t id, uint16_t flags) {
  std::memset(buf_, 0, kHeaderSize);
  ldns_write_uint16(buf_, id);
  ldns_write_uint16(buf_ + 2, flags);
  len_ = kHeaderSize;
  counts_[0] = counts_[1] = counts_[2] = 0;
  truncated_ = opt_ = false;
}

bool MessageWriter::question(std::string_view name, uint16_t type, uint16_t klass) {
  if (!room(name.size() + 4)) return false;
  std::memcpy(buf_ + len_, name.data(), name.size());
  len_ += name.size();
  ldns_write_uint16(buf_ + len_, type);
  ldns_write_uint16(buf_ + len_ + 2, klass);
  len_ += 4;
  ldns_write_uint16(buf_ + LDNS_QDCOUNT_OFF, 1);
  return true;
}

void MessageWriter::reserveOpt(uint16_t udpSize, bool dnssecOk, uint8_t extendedRcode) {
  opt_ = true;
  optSize_ = udpSize;
  optDo_ = dnssecOk;
  optRcode_ = extendedRcode;
}

bool MessageWriter::record(Section section, uint16_t ownerOffset, std::string_view tail) {
  if (!room(2 + tail.size())) {
    if (section == kAnswer) truncated_ = true;
    return false;
  }
  ldns_write_uint16(buf_ + len_, static_cast<uint16_t>(0xc000 | ownerOffset));
  std::memcpy(buf_ + len_ + 2, tail.data(), tail.size());
  len_ += 2 + tail.size();
  ++counts_[section];
  return true;
}

bool MessageWriter::records(Section section, uint16_t ownerOffset, std::string_view tails,
                            size_t* lastRdataAt) {
  bool all = true;
  forEachTail(tails, [&](std::string_view tail) {
    if (!all) return;
    if (lastRdataAt) *lastRdataAt = len_ + 2 + 10;
    all = record(section, ownerOffset, tail);
  });
  return all;
}

bool MessageWriter::recordNamed(Section section, std::string_view owner, std::string_view tail) {
  if (!room(owner.size() + tail.size())) {
    if (section == kAnswer) truncated_ = true;
    return false;
  }
  std::memcpy(buf_ + len_, owner.data(), owner.size());
  std::memcpy(buf_ + len_ + owner.size(), tail.data(), tail.size());
  len_ += owner.size() + tail.size();
  ++counts_[section];
  return true;
}

void MessageWriter::setRcode(uint16_t rcode) {
  buf_[3] = static_cast<uint8_t>((buf_[3] & 0xf0) | (rcode & 0x0f));
  optRcode_ = static_cast<uint8_t>(rcode >> 4);
}

void MessageWriter::setTruncated() { truncated_ = true; }

void MessageWriter::setFlags(uint16_t flags) {
  buf_[2] = static_cast<uint8_t>(buf_[2] | (flags >> 8));
  buf_[3] = static_cast<uint8_t>(buf_[3] | (flags & 0xff));
}

size_t MessageWriter::finish() {
  if (truncated_) LDNS_TC_SET(buf_);
  ldns_write_uint16(buf_ + LDNS_ANCOUNT_OFF, counts_[kAnswer]);
  ldns_write_uint16(buf_ + LDNS_NSCOUNT_OFF, counts_[kAuthority]);
  uint16_t additional = counts_[kAdditional];
  if (opt_) {
    uint8_t* p = buf_ + len_;
    p[0] = 0;  // the root name
    ldns_write_uint16(p + 1, kTypeOpt);
    ldns_write_uint16(p + 3, optSize_);
    // TTL: extended rcode, version 0, then the DO bit and zeros.
    p[5] = optRcode_;
    p[6] = 0;
    ldns_write_uint16(p + 7, optDo_ ? 0x8000 : 0);
    ldns_write_uint16(p + 9, 0);  // no options
    len_ += kOptSize;
    ++additional;
  }
  ldns_write_uint16(buf_ + LDNS_ARCOUNT_OFF, additional);
  return len_;
}

}  // namespace svcrouter::dns
