//! The part a company plays in an event or a deal.

use super::wire::wire_enum;

wire_enum! {
    /// The role of a company in an event or a partnership.
    Role {
        /// Puts money in.
        Investor = "investor",
        /// Receives the money.
        Investee = "investee",
        /// Buys.
        Acquirer = "acquirer",
        /// Is bought.
        Acquired = "acquired",
        /// Works with another as an equal.
        Partner = "partner",
        /// Oversees or rules.
        Regulator = "regulator",
        /// Is what the event is about.
        Subject = "subject",
        /// Buys a product or service.
        Customer = "customer",
        /// Sells a product or service.
        Supplier = "supplier",
        /// Anything else.
        Other = "other",
    }
}
