#include "rgw/core/xml.h"

#include <cctype>

namespace cairn::rgw {

std::string xml_escape(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      case '\'': r += "&apos;"; break;
      case '\r': r += "&#13;"; break;
      default: r += c;
    }
  }
  return r;
}

XmlWriter::XmlWriter(std::string_view root, bool s3_namespace) {
  out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<";
  out_ += root;
  if (s3_namespace) out_ += " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
  out_ += ">";
  stack_.emplace_back(root);
}

void XmlWriter::open(std::string_view name) {
  out_ += "<";
  out_ += name;
  out_ += ">";
  stack_.emplace_back(name);
}

void XmlWriter::close() {
  if (stack_.empty()) return;
  out_ += "</" + stack_.back() + ">";
  stack_.pop_back();
}

void XmlWriter::elem(std::string_view name, std::string_view text) {
  out_ += "<";
  out_ += name;
  out_ += ">";
  out_ += xml_escape(text);
  out_ += "</";
  out_ += name;
  out_ += ">";
}

std::string XmlWriter::finish() {
  while (!stack_.empty()) close();
  return std::move(out_);
}

const XmlNode* XmlNode::child(std::string_view n) const {
  for (const XmlNode& c : children) {
    if (c.name == n) return &c;
  }
  return nullptr;
}

std::vector<const XmlNode*> XmlNode::children_named(std::string_view n) const {
  std::vector<const XmlNode*> r;
  for (const XmlNode& c : children) {
    if (c.name == n) r.push_back(&c);
  }
  return r;
}

std::string XmlNode::child_text(std::string_view n) const {
  const XmlNode* c = child(n);
  return c ? c->text : std::string();
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  std::optional<XmlNode> document() {
    skip_ws();
    if (s_.substr(p_).starts_with("<?xml")) {
      size_t e = s_.find("?>", p_);
      if (e == std::string_view::npos) return std::nullopt;
      p_ = e + 2;
    }
    skip_misc();
    XmlNode root;
    if (!element(&root, 0)) return std::nullopt;
    skip_misc();
    if (p_ != s_.size()) return std::nullopt;
    return root;
  }

 private:
  void skip_ws() {
    while (p_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[p_]))) ++p_;
  }
  // Whitespace and comments between elements.
  void skip_misc() {
    for (;;) {
      skip_ws();
      if (s_.substr(p_).starts_with("<!--")) {
        size_t e = s_.find("-->", p_ + 4);
        if (e == std::string_view::npos) {
          p_ = s_.size() + 1;  // forces failure
          return;
        }
        p_ = e + 3;
        continue;
      }
      return;
    }
  }
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
           c == ':' || static_cast<unsigned char>(c) >= 0x80;
  }
  bool name(std::string* out) {
    size_t b = p_;
    while (p_ < s_.size() && name_char(s_[p_])) ++p_;
    if (p_ == b) return false;
    std::string_view n = s_.substr(b, p_ - b);
    size_t colon = n.rfind(':');
    if (colon != std::string_view::npos) n = n.substr(colon + 1);
    *out = std::string(n);
    return true;
  }
  bool attributes() {
    for (;;) {
      skip_ws();
      if (p_ >= s_.size()) return false;
      if (s_[p_] == '>' || s_[p_] == '/') return true;
      std::string n;
      if (!name(&n)) return false;
      skip_ws();
      if (p_ >= s_.size() || s_[p_] != '=') return false;
      ++p_;
      skip_ws();
      if (p_ >= s_.size() || (s_[p_] != '"' && s_[p_] != '\'')) return false;
      char q = s_[p_++];
      size_t e = s_.find(q, p_);
      if (e == std::string_view::npos) return false;
      p_ = e + 1;
    }
  }
  bool text(std::string* out) {
    while (p_ < s_.size() && s_[p_] != '<') {
      char c = s_[p_];
      if (c == '&') {
        size_t e = s_.find(';', p_);
        if (e == std::string_view::npos || e - p_ > 10) return false;
        std::string_view ent = s_.substr(p_ + 1, e - p_ - 1);
        if (ent == "amp") *out += '&';
        else if (ent == "lt") *out += '<';
        else if (ent == "gt") *out += '>';
        else if (ent == "quot") *out += '"';
        else if (ent == "apos") *out += '\'';
        else if (ent.starts_with("#")) {
          unsigned long cp = 0;
          try {
            cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                     ? std::stoul(std::string(ent.substr(2)), nullptr, 16)
                     : std::stoul(std::string(ent.substr(1)), nullptr, 10);
          } catch (...) {
            return false;
          }
          append_utf8(cp, out);
        } else {
          return false;
        }
        p_ = e + 1;
      } else {
        *out += c;
        ++p_;
      }
    }
    return true;
  }
  static void append_utf8(unsigned long cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool element(XmlNode* node, int depth) {
    if (depth > 32 || ++count_ > 100000) return false;
    if (p_ >= s_.size() || s_[p_] != '<') return false;
    ++p_;
    if (!name(&node->name)) return false;
    if (!attributes()) return false;
    if (s_[p_] == '/') {
      if (p_ + 1 >= s_.size() || s_[p_ + 1] != '>') return false;
      p_ += 2;
      return true;
    }
    ++p_;  // '>'
    for (;;) {
      if (!text(&node->text)) return false;
      if (p_ >= s_.size()) return false;
      if (s_.substr(p_).starts_with("</")) {
        p_ += 2;
        std::string n;
        if (!name(&n) || n != node->name) return false;
        skip_ws();
        if (p_ >= s_.size() || s_[p_] != '>') return false;
        ++p_;
        return true;
      }
      if (s_.substr(p_).starts_with("<!--")) {
        size_t e = s_.find("-->", p_ + 4);
        if (e == std::string_view::npos) return false;
        p_ = e + 3;
        continue;
      }
      if (s_.substr(p_).starts_with("<![CDATA[")) {
        size_t e = s_.find("]]>", p_ + 9);
        if (e == std::string_view::npos) return false;
        node->text += s_.substr(p_ + 9, e - p_ - 9);
        p_ = e + 3;
        continue;
      }
      if (s_.substr(p_).starts_with("<!") || s_.substr(p_).starts_with("<?")) return false;
      node->children.emplace_back();
      if (!element(&node->children.back(), depth + 1)) return false;
    }
  }

  std::string_view s_;
  size_t p_ = 0;
  int count_ = 0;
};

}  // namespace

std::optional<XmlNode> parse_xml(std::string_view doc) { return Parser(doc).document(); }

}  // namespace cairn::rgw
