#include "hostport/render/iptables_transaction.h"

#include "absl/strings/str_cat.h"

namespace hostport {

void IptablesTransaction::Add(absl::string_view table, OpKind kind,
                              absl::string_view chain, absl::string_view rule) {
  Table* t = nullptr;
  for (Table& existing : tables_) {
    if (existing.name == table) t = &existing;
  }
  if (t == nullptr) {
    tables_.push_back(Table{std::string(table), {}});
    t = &tables_.back();
  }
  if (kind == OpKind::kDeclareChain) {
    for (const Op& op : t->ops) {
      if (op.kind == OpKind::kDeclareChain && op.chain == chain) return;
    }
  }
  t->ops.push_back(Op{kind, std::string(chain), std::string(rule)});
}

void IptablesTransaction::Touch(absl::string_view table) {
  for (const Table& existing : tables_) {
    if (existing.name == table) return;
  }
  tables_.push_back(Table{std::string(table), {}});
}

void IptablesTransaction::DeclareChain(absl::string_view table,
                                       absl::string_view chain) {
  Add(table, OpKind::kDeclareChain, chain, "");
}
void IptablesTransaction::NewChain(absl::string_view table,
                                   absl::string_view chain) {
  Add(table, OpKind::kNewChain, chain, "");
}
void IptablesTransaction::Append(absl::string_view table,
                                 absl::string_view chain,
                                 absl::string_view rule) {
  Add(table, OpKind::kAppend, chain, rule);
}
void IptablesTransaction::Insert(absl::string_view table,
                                 absl::string_view chain,
                                 absl::string_view rule) {
  Add(table, OpKind::kInsert, chain, rule);
}
void IptablesTransaction::Delete(absl::string_view table,
                                 absl::string_view chain,
                                 absl::string_view rule) {
  Add(table, OpKind::kDelete, chain, rule);
}
void IptablesTransaction::DeleteChain(absl::string_view table,
                                      absl::string_view chain) {
  Add(table, OpKind::kDeleteChain, chain, "");
}

void IptablesTransaction::Merge(const IptablesTransaction& other) {
  for (const Table& table : other.tables_) {
    for (const Op& op : table.ops) Add(table.name, op.kind, op.chain, op.rule);
  }
}

int IptablesTransaction::size() const {
  int n = 0;
  for (const Table& t : tables_) n += static_cast<int>(t.ops.size());
  return n;
}

std::string IptablesTransaction::Render() const {
  std::string out;
  for (const Table& table : tables_) {
    if (table.ops.empty()) continue;
    absl::StrAppend(&out, "*", table.name, "\n");
    for (const Op& op : table.ops) {
      switch (op.kind) {
        case OpKind::kDeclareChain:
          absl::StrAppend(&out, ":", op.chain, " - [0:0]\n");
          break;
        case OpKind::kNewChain:
          absl::StrAppend(&out, "-N ", op.chain, "\n");
          break;
        case OpKind::kAppend:
          absl::StrAppend(&out, "-A ", op.chain, " ", op.rule, "\n");
          break;
        case OpKind::kInsert:
          absl::StrAppend(&out, "-I ", op.chain, " ", op.rule, "\n");
          break;
        case OpKind::kDelete:
          absl::StrAppend(&out, "-D ", op.chain, " ", op.rule, "\n");
          break;
        case OpKind::kDeleteChain:
          absl::StrAppend(&out, "-X ", op.chain, "\n");
          break;
      }
    }
    absl::StrAppend(&out, "COMMIT\n");
  }
  return out;
}

}  // namespace hostport
