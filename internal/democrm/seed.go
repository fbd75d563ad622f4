package democrm

import "time"

// The seed rows: customer 1, order 1 and staff note 1 always hold these
// values, and the generator never produces them (or, for the name, anything
// starting with them) anywhere else. A masking test can therefore grep the
// bytes a client received for, say, SeedMobile: present means it leaked,
// and unmasked reads find it in exactly the rows named here (given at least
// two customers; with one, every order and note is customer 1's).
//
//	crm.customers   id 1: all Seed* values below
//	crm.orders      id 1: customer 1, ship_phone SeedMobile, ship_address SeedAddress
//	crm.staff_notes id 1: customer 1; the note quotes SeedName, SeedIDNumber,
//	                      SeedEmail and SeedMobile
//	crm.customer_contacts (view): SeedName, SeedMobile, SeedEmail for id 1
const (
	SeedCustomerID = 1
	SeedOrderID    = 1
	SeedNoteID     = 1

	SeedName       = "张伟"
	SeedNamePinyin = "Zhang Wei"
	SeedMobile     = "13812345678"
	// Beijing Chaoyang (110105), born 1988-05-20, sequence 123 (odd: male),
	// check character X, so it also exercises the X case.
	SeedIDNumber = "11010519880520123X"
	SeedEmail    = "zhangwei.pgveil@163.com"
	SeedAddress  = "北京市朝阳区建国路88号现代城3号楼1808室"
	SeedOpenID   = "oPgVeiL_zHaNgWeI_8805201234x"
	SeedQQ       = "3141592653"
	// SeedNote is the text of staff note 1.
	SeedNote = "客户" + SeedName + "（身份证" + SeedIDNumber + "）来电，要求将发票寄到" + SeedEmail + "，回电" + SeedMobile + "。"
)

// SeedPII returns the distinctive personal values of the seed rows, the ones
// worth searching for in a client's bytes: name, mobile, ID number, email,
// address, WeChat OpenID and QQ number. The slice is new on every call.
func SeedPII() []string {
	return []string{SeedName, SeedMobile, SeedIDNumber, SeedEmail, SeedAddress, SeedOpenID, SeedQQ}
}

func seedCustomer() Customer {
	return Customer{
		ID:                 SeedCustomerID,
		Name:               SeedName,
		NamePinyin:         SeedNamePinyin,
		Mobile:             SeedMobile,
		Email:              SeedEmail,
		IDNumber:           SeedIDNumber,
		Birthday:           time.Date(1988, 5, 20, 0, 0, 0, 0, time.UTC),
		Gender:             "男",
		City:               "北京市",
		Province:           "北京市",
		Address:            SeedAddress,
		WechatOpenID:       SeedOpenID,
		QQNumber:           SeedQQ,
		VIPLevel:           3,
		ConsentCrossBorder: false,
		CreatedAt:          time.Date(2019, 3, 15, 10, 20, 30, 0, cst),
	}
}

func seedOrder() Order {
	return Order{
		ID:          SeedOrderID,
		CustomerID:  SeedCustomerID,
		CreatedAt:   time.Date(2024, 11, 11, 0, 8, 16, 0, cst),
		AmountCents: 888888,
		Status:      "delivered",
		Campaign:    "双十一",
		City:        "北京市",
		ShipPhone:   SeedMobile,
		ShipAddress: SeedAddress,
	}
}

func seedNote() StaffNote {
	return StaffNote{ID: SeedNoteID, CustomerID: SeedCustomerID, Note: SeedNote}
}
