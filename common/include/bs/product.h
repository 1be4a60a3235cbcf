/*
 * product.h - which product (tenant) this process serves.
 *
 * The product comes from configuration only, is validated once at start
 * against ALLOWED_PRODUCTS and never changes afterwards. An unset PRODUCT
 * means "bestays" (single-product deployments keep working); a value outside
 * the allowed set is refused, never replaced by another product.
 */
#ifndef BS_PRODUCT_H
#define BS_PRODUCT_H

#include <stdbool.h>
#include <stddef.h>

#define BS_PRODUCT_MAX              50 /* the width of the product column */
#define BS_PRODUCT_DEFAULT          "bestays"
#define BS_ALLOWED_PRODUCTS_DEFAULT "bestays,realestate"

/*
 * Resolves the product from the values of PRODUCT and ALLOWED_PRODUCTS (each
 * NULL when unset). Comparison is case-sensitive, nothing is trimmed. Every
 * entry of the allowed list must be a valid product name: 1-50 characters of
 * [a-z0-9_-], usable in topic names.
 *
 * On success copies the product into `product` (BS_PRODUCT_MAX + 1 bytes),
 * sets *defaulted when PRODUCT was unset, and returns BS_OK. Otherwise returns
 * BS_ECONFIG with one line in errstr naming the value and the allowed set.
 */
int bs_product_resolve(const char *value, const char *allowed, char *product,
                       bool *defaulted, char *errstr, size_t errstr_size);

/* True when `name` is a syntactically valid product name. */
bool bs_product_name_valid(const char *name);

/*
 * Writes "<product>.<kind>" (kind: "users", "faq", "audit", "dlq") into buf.
 * Returns BS_OK, or BS_EINVAL when it does not fit.
 */
int bs_product_topic(const char *product, const char *kind, char *buf,
                     size_t buf_size);

#endif
