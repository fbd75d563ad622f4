package democrm

import (
	"iter"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Customer is one row of crm.customers. An empty Email, WechatOpenID or
// QQNumber is stored as NULL.
type Customer struct {
	ID                 int64
	Name               string    // "张伟"
	NamePinyin         string    // "Zhang Wei"
	Mobile             string    // "13812345678"
	Email              string    // "zhangwei88@163.com"
	IDNumber           string    // "11010519880520123X"
	Birthday           time.Time // midnight UTC of the date in IDNumber
	Gender             string    // "男" or "女", matching IDNumber's 17th digit
	City               string    // "深圳市"
	Province           string    // "广东省"; "上海市" for a municipality
	Address            string    // "广东省深圳市南山区科技路18号华润城3栋1203室"
	WechatOpenID       string    // "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	QQNumber           string    // "12345678"
	VIPLevel           int       // 0-5
	ConsentCrossBorder bool      // consent to transfer abroad (PIPL art. 39)
	CreatedAt          time.Time
}

// Order is one row of crm.orders. Its city, phone and address are usually
// the customer's own, sometimes a gift to someone elsewhere.
type Order struct {
	ID          int64
	CustomerID  int64
	CreatedAt   time.Time
	AmountCents int64  // amount in fen: 12345 is 123.45
	Status      string // pending, paid, shipped, delivered, cancelled, refunded
	Campaign    string // "双十一"; "" = NULL
	City        string
	ShipPhone   string
	ShipAddress string
}

// StaffNote is one row of crm.staff_notes: free text by customer service
// that mentions personal information of the customer in passing, the kind
// that column classification alone does not catch.
type StaffNote struct {
	ID         int64
	CustomerID int64
	Note       string
}

// Dataset describes a generated CRM. Rows are not stored: each is computed
// from (seed, table, id) when asked for, so any row can be looked up in
// O(1), a dataset of any size costs no memory, and the same seed gives the
// same rows on every machine and Go version (the generator has its own
// random number generator for that reason).
type Dataset struct {
	Seed         int64
	NumCustomers int // ids 1..NumCustomers
	NumOrders    int // ids 1..NumOrders
	NumNotes     int // ids 1..NumNotes; half the number of customers
}

// Generate describes the dataset for seed with the given row counts. Row 1
// of each table is the fixed seed row (see SeedPII) whenever the table has
// rows; orders and notes need at least one customer.
func Generate(seed int64, customers, orders int) *Dataset {
	customers = max(customers, 0)
	orders = max(orders, 0)
	if customers == 0 {
		orders = 0
	}
	notes := 0
	if customers > 0 {
		notes = max(customers/2, 1)
	}
	return &Dataset{Seed: seed, NumCustomers: customers, NumOrders: orders, NumNotes: notes}
}

// Customers yields every customer in id order.
func (d *Dataset) Customers() iter.Seq[Customer] {
	return func(yield func(Customer) bool) {
		for id := int64(1); id <= int64(d.NumCustomers); id++ {
			if !yield(d.Customer(id)) {
				return
			}
		}
	}
}

// Orders yields every order in id order.
func (d *Dataset) Orders() iter.Seq[Order] {
	return func(yield func(Order) bool) {
		for id := int64(1); id <= int64(d.NumOrders); id++ {
			if !yield(d.Order(id)) {
				return
			}
		}
	}
}

// Notes yields every staff note in id order.
func (d *Dataset) Notes() iter.Seq[StaffNote] {
	return func(yield func(StaffNote) bool) {
		for id := int64(1); id <= int64(d.NumNotes); id++ {
			if !yield(d.Note(id)) {
				return
			}
		}
	}
}

// Table tags keep the random streams of the tables apart.
const (
	tagCustomer = 1
	tagOrder    = 2
	tagNote     = 3
)

var (
	// China Standard Time; a fixed zone so that no tzdata is needed.
	cst = time.FixedZone("CST", 8*3600)

	birthFrom      = time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	birthDays      = int(time.Date(2006, 12, 31, 0, 0, 0, 0, time.UTC).Sub(birthFrom).Hours()/24) + 1
	customersFrom  = time.Date(2018, 1, 1, 0, 0, 0, 0, cst)
	customersUntil = time.Date(2025, 12, 1, 0, 0, 0, 0, cst)
	ordersUntil    = time.Date(2026, 1, 1, 0, 0, 0, 0, cst)
)

// Customer returns customer id (1..NumCustomers; other ids give a customer
// too, but one that is not loaded).
func (d *Dataset) Customer(id int64) Customer {
	if id == SeedCustomerID {
		return seedCustomer()
	}
	r := newRNG(d.Seed, tagCustomer, id)
	c := Customer{ID: id}

	male := r.intn(2) == 0
	c.Gender = "女"
	if male {
		c.Gender = "男"
	}
	ct := pickCity(&r)
	dist := ct.districts[r.intn(len(ct.districts))]
	c.City, c.Province = ct.name, ct.province

	for {
		c.Name, c.NamePinyin = personName(&r, male)
		// Keep the seed name unique, also as a prefix (张伟明), so that a
		// search for it finds customer 1 only.
		if !strings.HasPrefix(c.NamePinyin, SeedNamePinyin) {
			break
		}
	}

	c.Birthday = birthFrom.AddDate(0, 0, r.intn(birthDays))
	// Most people live where their ID was issued; a third moved.
	area := dist.code
	if r.intn(3) == 0 {
		other := pickCity(&r)
		area = other.districts[r.intn(len(other.districts))].code
	}
	for {
		c.IDNumber = makeIDNumber(area, c.Birthday, r.intn(1000), male)
		if c.IDNumber != SeedIDNumber {
			break
		}
	}
	c.Mobile = mobile(&r)
	if r.intn(10) < 6 {
		c.QQNumber = qqNumber(&r)
	}
	if r.intn(10) < 9 {
		c.Email = email(&r, c)
	}
	if r.intn(10) < 8 {
		c.WechatOpenID = openID(&r)
	}
	c.Address = address(&r, ct, dist)
	c.VIPLevel = vipLevel(&r)
	c.ConsentCrossBorder = r.intn(10) < 3
	c.CreatedAt = customersFrom.Add(time.Duration(r.int63n(int64(customersUntil.Sub(customersFrom)/time.Second))) * time.Second)
	return c
}

var (
	orderStatuses = weighted[string]{{"delivered", 60}, {"shipped", 10}, {"paid", 10}, {"cancelled", 10}, {"refunded", 5}, {"pending", 5}}
	campaigns     = weighted[string]{{"", 60}, {"双十一", 12}, {"618大促", 10}, {"年货节", 6}, {"会员日", 6}, {"七夕", 3}, {"开学季", 3}}
)

// Order returns order id.
func (d *Dataset) Order(id int64) Order {
	if id == SeedOrderID && d.NumCustomers > 0 {
		return seedOrder()
	}
	r := newRNG(d.Seed, tagOrder, id)
	n := max(d.NumCustomers, 1)
	var cid int64
	if r.intn(5) == 0 {
		cid = 1 + int64(r.intn(max(n/10, 1))) // loyal customers buy more
	} else {
		cid = 1 + int64(r.intn(n))
	}
	if cid == SeedCustomerID {
		// Only order 1 belongs to the seed customer, so that the seed phone
		// and address appear in one order (unless there is one customer).
		cid = min(2, int64(n))
	}
	c := d.Customer(cid)
	o := Order{ID: id, CustomerID: cid}
	o.CreatedAt = c.CreatedAt.Add(time.Duration(r.int63n(int64(ordersUntil.Sub(c.CreatedAt)/time.Second))) * time.Second)
	// 9.90 to 9900.00 yuan, most orders small.
	u := r.float64()
	o.AmountCents = int64(990 * math.Pow(1000, u*u))
	o.Status = orderStatuses.pick(&r)
	o.Campaign = campaigns.pick(&r)

	o.City, o.ShipAddress = c.City, c.Address
	if r.intn(100) < 15 { // a gift, shipped elsewhere
		ct := pickCity(&r)
		o.City = ct.name
		o.ShipAddress = address(&r, ct, ct.districts[r.intn(len(ct.districts))])
	} else if r.intn(100) < 15 { // same city, the office
		ct := cityByName[c.City]
		o.ShipAddress = address(&r, ct, ct.districts[r.intn(len(ct.districts))])
	}
	o.ShipPhone = c.Mobile
	if r.intn(100) < 20 {
		o.ShipPhone = mobile(&r)
	}
	return o
}

// Note returns staff note id.
func (d *Dataset) Note(id int64) StaffNote {
	if id == SeedNoteID {
		return seedNote()
	}
	r := newRNG(d.Seed, tagNote, id)
	cid := 1 + int64(r.intn(max(d.NumCustomers, 1)))
	if cid == SeedCustomerID {
		// Notes about customer 1 other than the seed note would repeat the
		// seed values in unpredictable places; give them to customer 2.
		cid = min(2, int64(max(d.NumCustomers, 1)))
	}
	c := d.Customer(cid)
	return StaffNote{ID: id, CustomerID: cid, Note: noteText(&r, c)}
}

func noteText(r *rng, c Customer) string {
	honorific := "女士"
	if c.Gender == "男" {
		honorific = "先生"
	}
	surname := []rune(c.Name)[0:1]
	for _, s := range surnames {
		if len(s.h) > 3 && strings.HasPrefix(c.Name, s.h) {
			surname = []rune(s.h)
		}
	}
	switch r.intn(9) {
	case 0:
		return "客户" + c.Name + "来电咨询订单物流，联系电话" + c.Mobile + "。"
	case 1:
		return "已核实身份证号" + c.IDNumber + "，会员等级调整为VIP" + strconv.Itoa(c.VIPLevel) + "。"
	case 2:
		if c.Email != "" {
			return "客户要求电子发票发送至" + c.Email + "，已处理。"
		}
		return "客户无邮箱，发票改为短信发送至" + c.Mobile + "。"
	case 3:
		return "收货地址变更为" + c.Address + "，联系人" + c.Name + "。"
	case 4:
		if c.WechatOpenID != "" {
			return "客户微信openid " + c.WechatOpenID + "，已添加企业微信跟进。"
		}
		return c.Name + "未绑定微信，请电话回访：" + c.Mobile
	case 5:
		if c.QQNumber != "" {
			return "QQ " + c.QQNumber + " 留言投诉物流太慢，已补发优惠券。"
		}
		return "客户" + c.Name + "投诉物流太慢，已补发优惠券。"
	case 6:
		return string(surname) + honorific + "（手机尾号" + c.Mobile[7:] + "）申请七天无理由退货。"
	case 7:
		return c.Name + "，" + c.Gender + "，生日" + c.Birthday.Format("2006年1月2日") + "，生日当月赠送积分。"
	default:
		return "客户对配送速度表示满意，无需回访。"
	}
}

// weighted is a list of choices with integer weights.
type weighted[T any] []struct {
	v T
	w int
}

func (ws weighted[T]) pick(r *rng) T {
	total := 0
	for _, x := range ws {
		total += x.w
	}
	n := r.intn(total)
	for _, x := range ws {
		if n < x.w {
			return x.v
		}
		n -= x.w
	}
	panic("unreachable")
}

var cityTotalWeight = func() int {
	t := 0
	for _, c := range cities {
		t += c.weight
	}
	return t
}()

var cityByName = func() map[string]*city {
	m := make(map[string]*city, len(cities))
	for i := range cities {
		m[cities[i].name] = &cities[i]
	}
	return m
}()

func pickCity(r *rng) *city {
	n := r.intn(cityTotalWeight)
	for i := range cities {
		if n < cities[i].weight {
			return &cities[i]
		}
		n -= cities[i].weight
	}
	panic("unreachable")
}

// surnameWeight makes the first surnames far more common than the rest and
// compound surnames rare, as they are.
func surnameWeight(i int) int {
	switch {
	case len(surnames[i].h) > 3:
		return 1
	case i < 10:
		return 80
	case i < 30:
		return 32
	default:
		return 12
	}
}

var surnameTotalWeight = func() int {
	t := 0
	for i := range surnames {
		t += surnameWeight(i)
	}
	return t
}()

func pickSurname(r *rng) hanzi {
	n := r.intn(surnameTotalWeight)
	for i := range surnames {
		w := surnameWeight(i)
		if n < w {
			return surnames[i]
		}
		n -= w
	}
	panic("unreachable")
}

func pickGiven(r *rng, male bool) hanzi {
	if r.intn(5) == 0 {
		return sharedGiven[r.intn(len(sharedGiven))]
	}
	if male {
		return maleGiven[r.intn(len(maleGiven))]
	}
	return femaleGiven[r.intn(len(femaleGiven))]
}

// personName returns a name in Hanzi and its pinyin, "Ouyang Xiaoming":
// surname, space, given name as one capitalised word.
func personName(r *rng, male bool) (string, string) {
	s := pickSurname(r)
	g1 := pickGiven(r, male)
	name := s.h + g1.h
	given := g1.py
	if r.intn(10) < 7 {
		g2 := pickGiven(r, male)
		name += g2.h
		given += g2.py
	}
	return name, s.py + " " + strings.ToUpper(given[:1]) + given[1:]
}

func mobile(r *rng) string {
	for {
		b := make([]byte, 0, 11)
		b = append(b, mobilePrefixes[r.intn(len(mobilePrefixes))]...)
		b = appendDigits(b, r, 8)
		if s := string(b); s != SeedMobile {
			return s
		}
	}
}

// qqNumber: 5 to 11 digits, no leading zero; most accounts today have 9 or 10.
func qqNumber(r *rng) string {
	lengths := weighted[int]{{5, 1}, {6, 2}, {7, 4}, {8, 10}, {9, 25}, {10, 50}, {11, 8}}
	for {
		n := lengths.pick(r)
		b := []byte{byte('1' + r.intn(9))}
		b = appendDigits(b, r, n-1)
		if s := string(b); s != SeedQQ && s != SeedMobile {
			return s
		}
	}
}

var emailDomains = weighted[string]{
	{"qq.com", 30}, {"163.com", 20}, {"126.com", 10}, {"gmail.com", 8}, {"foxmail.com", 6},
	{"outlook.com", 6}, {"sina.com", 5}, {"139.com", 4}, {"sohu.com", 3}, {"hotmail.com", 3},
	{"aliyun.com", 3}, {"yeah.net", 2},
}

func email(r *rng, c Customer) string {
	domain := emailDomains.pick(r)
	if domain == "qq.com" && c.QQNumber != "" && r.intn(2) == 0 {
		return c.QQNumber + "@qq.com"
	}
	surname, given, _ := strings.Cut(strings.ToLower(c.NamePinyin), " ")
	var local string
	switch r.intn(4) {
	case 0:
		local = surname + given + strconv.Itoa(c.Birthday.Year()) // zhangxiaoming1988
	case 1:
		local = given + "." + surname // xiaoming.zhang
	case 2:
		local = surname + given + strconv.Itoa(10+r.intn(90)) // zhangxiaoming42
	default:
		local = surname[:1] + given + strconv.Itoa(100+r.intn(900)) // zxiaoming123
	}
	return local + "@" + domain
}

const openIDChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// openID imitates a WeChat OpenID: "o" and 27 URL-safe base64 characters.
func openID(r *rng) string {
	b := make([]byte, 28)
	b[0] = 'o'
	for i := 1; i < len(b); i++ {
		b[i] = openIDChars[r.intn(len(openIDChars))]
	}
	return string(b)
}

// address: province (unless a municipality), city, district, street and
// number, and often an estate, building and flat:
// "广东省深圳市南山区科技路18号华润城3栋1203室".
func address(r *rng, ct *city, d district) string {
	var b strings.Builder
	if !ct.municipality() {
		b.WriteString(ct.province)
	}
	b.WriteString(ct.name)
	b.WriteString(d.name)
	b.WriteString(streets[r.intn(len(streets))])
	b.WriteString(strconv.Itoa(1 + r.intn(999)))
	b.WriteString("号")
	if r.intn(10) < 6 {
		b.WriteString(estates[r.intn(len(estates))])
		b.WriteString(strconv.Itoa(1 + r.intn(30)))
		b.WriteString("栋")
		floor := 1 + r.intn(32)
		b.WriteString(strconv.Itoa(floor*100 + 1 + r.intn(6)))
		b.WriteString("室")
	}
	return b.String()
}

var vipLevels = weighted[int]{{0, 50}, {1, 25}, {2, 12}, {3, 7}, {4, 4}, {5, 2}}

func vipLevel(r *rng) int { return vipLevels.pick(r) }

func appendDigits(b []byte, r *rng, n int) []byte {
	for range n {
		b = append(b, byte('0'+r.intn(10)))
	}
	return b
}

// rng is SplitMix64. It is ours rather than math/rand's so that a seed
// gives the same data forever, and it is a plain value so that a
// generator per row costs no allocation.
type rng struct{ s uint64 }

func newRNG(seed int64, tag uint64, id int64) rng {
	s := mix64(uint64(seed) + tag*0x9E3779B97F4A7C15)
	return rng{s: mix64(s ^ uint64(id))}
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func (r *rng) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	return mix64(r.s)
}

// intn returns a number in [0, n) (Lemire's multiply-shift; the bias is
// below 2^-50 for the small n used here).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

func (r *rng) int63n(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

func (r *rng) float64() float64 {
	return float64(r.next()>>11) / (1 << 53)
}
